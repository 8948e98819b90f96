"""The demo's tools: real I/O against the backends, each declaring honestly what it touches.

The declarations are what volley schedules by. Lookups and fetches only read (`effects="read"`),
so they all run at once. `read_file` reads one file's key. The two record tools write the key of
the record they name, `record:<id>`: two calls on different records overlap, and a create and an
update of the same record run in the order the model wrote them, which is what fixes the race.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any
from urllib.parse import quote

from .. import Tool, tool
from ._backends import Backends

__all__ = ["make_tools"]

_TITLE = re.compile(r"<title>(.*?)</title>", re.S)
_TAGS = re.compile(r"<[^>]+>")


def make_tools(backends: Backends) -> list[Tool[..., Any]]:
    """The tools, bound to one set of running backends."""
    http = backends.http

    @tool(effects="read", timeout=10.0)
    async def get_weather(city: str) -> str:
        """Current weather in a city.

        Args:
            city: The city's name, e.g. "Paris".
        """
        response = await http.get(f"/weather/{quote(city, safe='')}")
        response.raise_for_status()
        w = response.json()
        return f"{w['temperature_c']}°C, {w['conditions']}, wind {w['wind_kmh']} km/h"

    @tool(effects="read", timeout=10.0)
    async def get_time(city: str) -> str:
        """The local time in a city.

        Args:
            city: The city's name, e.g. "Tokyo".
        """
        response = await http.get(f"/time/{quote(city, safe='')}")
        if response.status_code == 404:
            raise LookupError(response.json()["error"])
        response.raise_for_status()
        t = response.json()
        return f"{t['local_time']} ({t['zone']})"

    @tool(effects="read", timeout=10.0)
    async def fetch_page(url: str) -> str:
        """Fetch a web page and return its title and text.

        Args:
            url: The page's address (only the demo's own service is reachable).
        """
        if not url.startswith(backends.base_url + "/"):
            raise PermissionError(f"the demo only fetches pages under {backends.base_url}/")
        response = await http.get(url)
        response.raise_for_status()
        html = response.text
        title = _TITLE.search(html)
        text = " ".join(_TAGS.sub(" ", html.split("</head>")[-1]).split())
        return f"{title.group(1) if title else url}: {text}"

    @tool(reads=lambda a: [f"file:{a['path']}"])
    def read_file(path: str) -> str:
        """Read a text file of the demo's folder.

        Args:
            path: The file's path, e.g. "notes/01-standup.md".
        """
        return backends.notes.read(path)

    @tool(writes=lambda a: [f"record:{a['id']}"], timeout=10.0)
    async def create_record(id: str, title: str) -> str:
        """Create a record (status "draft") after the records service has validated it.

        Args:
            id: The new record's id, e.g. "R-1042".
            title: What the record is about.
        """
        response = await http.post("/records/validate", json={"id": id, "title": title})
        response.raise_for_status()
        verdict = response.json()
        if not verdict["ok"]:
            raise ValueError(f"record {id} is invalid: {verdict['reason']}")
        record = await asyncio.to_thread(backends.store.insert, id, title)
        return f"created {record.id} ({record.title!r}, status {record.status})"

    @tool(writes=lambda a: [f"record:{a['id']}"])
    def update_record(id: str, status: str) -> str:
        """Set the status of an existing record.

        Args:
            id: The record's id.
            status: The new status, e.g. "shipped".
        """
        record = backends.store.update(id, status)
        return f"{record.id} is now {record.status}"

    return [get_weather, get_time, fetch_page, read_file, create_record, update_record]
