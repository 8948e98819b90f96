"""The demo's HTTP service: weather, local time, web pages and record validation, on loopback.

The tools call it over real HTTP so that their latency is the kind that parallel calls save:
waiting on a network service. Each answer is delayed by a fixed amount derived from its path (150
to 800 ms, times `time_scale`), so every run of the demo sees the same latencies and the same
data, and the three ways of running a scenario can be compared call for call. The service's
clock is read once, when it is made, for the same reason: the time in Tokyo must not change
between the runs being compared.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta, timezone, tzinfo

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

__all__ = ["PAGES", "DemoService"]

ZONES: dict[str, tuple[str, int]] = {
    "paris": ("Europe/Paris", 1),
    "berlin": ("Europe/Berlin", 1),
    "london": ("Europe/London", 0),
    "tokyo": ("Asia/Tokyo", 9),
    "singapore": ("Asia/Singapore", 8),
    "sydney": ("Australia/Sydney", 10),
    "new york": ("America/New_York", -5),
    "san francisco": ("America/Los_Angeles", -8),
}
"""City -> (IANA zone, standard UTC offset used if the system has no time zone data)."""

CONDITIONS = ("sunny", "clear", "partly cloudy", "overcast", "light rain", "showers", "windy")

PAGES: dict[str, tuple[str, str]] = {
    "structured-concurrency": (
        "Structured concurrency",
        "A task group owns the tasks it starts: none outlives the block that made it, an error "
        "in one cancels its siblings, and the block re-raises what went wrong. Code reads top to "
        "bottom again, and no task is left running in the background by accident.",
    ),
    "timeouts": (
        "Timeouts that compose",
        "Give every call to the network a deadline. A deadline set once at the top and passed "
        "down is easier to reason about than a timeout per call, because nested calls cannot "
        "add up to more than the caller was willing to wait.",
    ),
    "idempotency": (
        "Idempotent writes",
        "An operation is idempotent if doing it twice has the effect of doing it once. Creating "
        "a record under a client-chosen id is; appending a line to a log is not. Only idempotent "
        "operations can be retried blindly after a timeout.",
    ),
    "retries": (
        "Retries with backoff and jitter",
        "Retry only what is safe to repeat: reads, and writes made idempotent with a key. Wait "
        "exponentially longer between attempts, with random jitter, so that many clients that "
        "failed together do not all come back at the same moment.",
    ),
    "rate-limits": (
        "Living with rate limits",
        "A 429 says slow down, and its Retry-After header says for how long. Limit concurrency "
        "on the client side to what the service grants, rather than discovering the limit by "
        "hitting it on every burst of parallel requests.",
    ),
}
"""Slug -> (title, text): the pages the demo fetches, in the order the model asks for them.

Their latencies happen to fall from first to last; streaming dispatch gains most from slow calls
written early (a call written last starts at the message's end either way)."""


def delay(key: str, low: float, high: float) -> float:
    """A latency between `low` and `high` seconds, fixed by `key`: the same on every run."""
    fraction = hashlib.sha256(key.encode()).digest()[0] / 255
    return low + (high - low) * fraction


class DemoService:
    """The ASGI app the demo's tools call, counting the requests it answers by endpoint.

    Args:
        time_scale: multiplies every delay (0 answers at once).
        now: the service's clock, fixed for its lifetime (default: when it is made).
    """

    def __init__(self, *, time_scale: float, now: datetime | None = None) -> None:
        self.time_scale = time_scale
        self.now = now or datetime.now(UTC)
        self.requests: Counter[str] = Counter()
        """Requests answered, by endpoint (`weather`, `time`, `pages`, `validate`)."""
        self.app = Starlette(
            routes=[
                Route("/weather/{city}", self._endpoint("weather", 0.25, 0.8, self._weather)),
                Route("/time/{city}", self._endpoint("time", 0.15, 0.3, self._time)),
                Route("/pages/{slug}", self._endpoint("pages", 0.2, 0.8, self._page)),
                Route(
                    "/records/validate",
                    self._endpoint("validate", 0.6, 0.8, self._validate),
                    methods=["POST"],
                ),
            ]
        )

    def _endpoint(
        self,
        name: str,
        low: float,
        high: float,
        answer: Callable[[Request], Awaitable[Response]],
    ) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            self.requests[name] += 1
            await asyncio.sleep(delay(request.url.path, low, high) * self.time_scale)
            return await answer(request)

        return endpoint

    async def _weather(self, request: Request) -> Response:
        city = request.path_params["city"]
        digest = hashlib.sha256(city.strip().lower().encode()).digest()
        return JSONResponse(
            {
                "city": city,
                "temperature_c": 4 + digest[1] % 22,
                "conditions": CONDITIONS[digest[2] % len(CONDITIONS)],
                "wind_kmh": 3 + digest[3] % 30,
            }
        )

    async def _time(self, request: Request) -> Response:
        city = request.path_params["city"]
        known = ZONES.get(city.strip().lower())
        if known is None:
            return JSONResponse({"error": f"unknown city {city!r}"}, status_code=404)
        local = self.now.astimezone(_zone(*known))
        return JSONResponse(
            {"city": city, "zone": known[0], "local_time": local.strftime("%H:%M on %A")}
        )

    async def _page(self, request: Request) -> Response:
        page = PAGES.get(request.path_params["slug"])
        if page is None:
            return HTMLResponse("<h1>Not found</h1>", status_code=404)
        title, text = page
        return HTMLResponse(
            f"<html><head><title>{title}</title></head><body><p>{text}</p></body></html>"
        )

    async def _validate(self, request: Request) -> Response:
        record = await request.json()
        title = str(record.get("title", "")).strip()
        if not title:
            return JSONResponse({"ok": False, "reason": "a record needs a title"})
        return JSONResponse({"ok": True})


def _zone(name: str, standard_offset: int) -> tzinfo:
    """The IANA zone, or its standard offset where the system has no time zone database."""
    try:
        from zoneinfo import ZoneInfo

        return ZoneInfo(name)
    except Exception:  # no tzdata (e.g. Windows without the tzdata package)
        return timezone(timedelta(hours=standard_offset))
