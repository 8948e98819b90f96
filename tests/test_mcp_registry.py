"""MCP servers from the registries, as volley tools: what real servers send, volley runs right.

- `mcp-server-time` (PyPI, in the dev extra), over stdio: read-only, idempotent tools.
- `@modelcontextprotocol/server-everything` (npm), over stdio and Streamable HTTP: hints on
  every tool, progress, images, structured content, a long-running tool. `.ci/run` installs it
  into `.cache/mcp-everything/`; `VOLLEY_MCP_EVERYTHING` may point at another `dist/index.js`.
  Without it (or without `node`) its tests skip, unless `VOLLEY_REQUIRE_MCP_EVERYTHING=1`.

Each server starts once per module, on one event loop that outlives the tests. Overlap and order
are judged from what the servers did (the progress they sent, the state they kept), not from
how long anything took.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import mcp
import pytest
from mcp import StdioServerParameters

from volley import Access, ErrorKind, Executor, Image, Progress, Tool, ToolCall, ToolResult
from volley.mcp import MCPServer

pytestmark = pytest.mark.timeout(60)

ROOT = Path(__file__).resolve().parent.parent
EVERYTHING_PACKAGE = "@modelcontextprotocol/server-everything"
EVERYTHING_VERSION = "2026.8.31"  # as pinned in .ci/run
EVERYTHING_DEFAULT = (
    ROOT / ".cache/mcp-everything/node_modules" / EVERYTHING_PACKAGE / "dist/index.js"
)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
LONG = "trigger-long-running-operation"


# -- one event loop and one session per server, for the whole module ---------------------------


@pytest.fixture(scope="module")
def loop() -> Iterator[asyncio.Runner]:
    """The loop every test of this module runs on, so that a session outlives a test."""
    with asyncio.Runner() as runner:
        yield runner


@dataclass
class Served:
    server: MCPServer
    tools: dict[str, Tool[..., Any]]
    target: StdioServerParameters | str
    """How a second, plain SDK client reaches the same server."""
    transport: str


@contextlib.contextmanager
def serving(
    loop: asyncio.Runner, server: MCPServer, target: StdioServerParameters | str, transport: str
) -> Iterator[Served]:
    async def start() -> list[Tool[..., Any]]:
        await server.open()
        return await server.list_tools()

    try:
        tools = loop.run(start())
        yield Served(server, {t.name: t for t in tools}, target, transport)
    finally:
        loop.run(server.aclose())


@pytest.fixture(scope="module")
def time_server(loop: asyncio.Runner) -> Iterator[Served]:
    target = StdioServerParameters(command=sys.executable, args=["-m", "mcp_server_time"])
    server = MCPServer.stdio(target.command, target.args, name="time")
    with serving(loop, server, target, "stdio") as served:
        yield served


def everything_script() -> tuple[str, Path]:
    """`node` and the server's `dist/index.js`; skips (or fails, where required) without them."""
    configured = os.environ.get("VOLLEY_MCP_EVERYTHING")
    script = Path(configured) if configured else EVERYTHING_DEFAULT
    node = shutil.which("node")
    if node is None:
        problem = "node is not on PATH"
    elif not script.is_file():
        source = "VOLLEY_MCP_EVERYTHING" if configured else "the default path"
        problem = (
            f"{EVERYTHING_PACKAGE} is not installed: {script} ({source}) does not exist; "
            f"install it with `npm install --prefix .cache/mcp-everything "
            f"{EVERYTHING_PACKAGE}@{EVERYTHING_VERSION}` (.ci/run does), or set "
            f"VOLLEY_MCP_EVERYTHING to its dist/index.js"
        )
    else:
        return node, script
    if os.environ.get("VOLLEY_REQUIRE_MCP_EVERYTHING") == "1":
        pytest.fail(f"VOLLEY_REQUIRE_MCP_EVERYTHING=1, but {problem}")
    pytest.skip(problem)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def everything_over_http(node: str, script: Path) -> Iterator[str]:
    """The server on a free port, its URL once it answers HTTP; killed at the end."""
    port = free_port()
    process = subprocess.Popen(
        [node, str(script), "streamableHttp"],
        env={**os.environ, "PORT": str(port)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while not answers(port):
            if process.poll() is not None:
                raise RuntimeError(f"{EVERYTHING_PACKAGE} exited ({process.returncode})")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{EVERYTHING_PACKAGE} did not answer on port {port}")
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        process.kill()
        process.wait()


def answers(port: int) -> bool:
    """Whether the endpoint answers at all (a GET without a session gets a 400)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        connection.request("GET", "/mcp")
        connection.getresponse().read()
    except OSError:
        return False
    finally:
        connection.close()
    return True


@pytest.fixture(scope="module", params=["stdio", "http"])
def everything(request: pytest.FixtureRequest, loop: asyncio.Runner) -> Iterator[Served]:
    node, script = everything_script()
    if request.param == "stdio":
        # `env` goes to the server on top of the SDK's minimal environment (seen by get-env).
        target = StdioServerParameters(
            command=node, args=[str(script), "stdio"], env={"VOLLEY_PROBE": "from volley"}
        )
        server = MCPServer.stdio(node, target.args, env=target.env, name="everything")
        with serving(loop, server, target, "stdio") as served:
            yield served
    else:
        with everything_over_http(node, script) as url:
            server = MCPServer.http(url, name="everything")
            with serving(loop, server, url, "http") as served:
                yield served


# -- helpers ------------------------------------------------------------------------------------


def call(call_id: str, name: str, **arguments: Any) -> ToolCall:
    return ToolCall(call_id, name, json.dumps(arguments))


def run(
    loop: asyncio.Runner, served: Served, *calls: ToolCall, **options: Any
) -> tuple[list[ToolResult], list[Progress]]:
    """One batch of `calls` on the module's session: the results, and the progress heard."""
    heard: list[Progress] = []

    async def main() -> list[ToolResult]:
        async with Executor(list(served.tools.values()), **options) as ex:
            batch = ex.batch(on_progress=heard.append)
            batch.submit_many(calls)
            return await batch.close()

    return loop.run(main()), heard


async def raw_listing(target: StdioServerParameters | str) -> tuple[int, list[mcp.types.Tool]]:
    """Every page of the listing, read by a plain SDK client: (pages, tools)."""
    async with mcp.Client(target) as client:
        tools: list[mcp.types.Tool] = []
        pages, cursor = 0, None
        while True:
            page = await client.list_tools(cursor=cursor)
            pages += 1
            tools.extend(page.tools)
            cursor = page.next_cursor
            if cursor is None:
                return pages, tools


def ids(events: list[Progress], call_id: str) -> list[int]:
    """Where in the order of all progress events `call_id`'s events came."""
    return [i for i, event in enumerate(events) if event.call_id == call_id]


# -- mcp-server-time (PyPI) ---------------------------------------------------------------------


def test_time_hints_as_sent_make_both_tools_shared_reads(time_server: Served) -> None:
    assert set(time_server.tools) == {"get_current_time", "convert_time"}
    for name, tool in time_server.tools.items():
        hints = time_server.server.annotations[name]
        assert hints is not None
        assert hints.read_only_hint is True
        assert hints.idempotent_hint is True
        assert hints.destructive_hint is False
        assert hints.open_world_hint is False
        assert tool.access({}) == Access(reads=frozenset({"mcp:time"}))
        assert tool.is_read_only
        assert tool.idempotent


def test_time_two_tools_in_one_batch_overlap_and_answer_right(
    loop: asyncio.Runner, time_server: Served
) -> None:
    results, _ = run(
        loop,
        time_server,
        call("now", "get_current_time", timezone="Asia/Tokyo"),
        call(
            "noon",
            "convert_time",
            source_timezone="Europe/London",
            time="12:00",
            target_timezone="America/New_York",
        ),
    )
    now, noon = results
    assert not now.is_error, now.content
    assert not noon.is_error, noon.content
    # Both were under way at once: each started before the other ended (one session, shared).
    assert now.started_at is not None
    assert noon.started_at is not None
    assert now.ended_at is not None
    assert noon.ended_at is not None
    assert now.started_at < noon.ended_at
    assert noon.started_at < now.ended_at

    told = json.loads(now.content)  # the text the model reads
    assert now.value == told  # the structured content, for code
    assert told["timezone"] == "Asia/Tokyo"
    tokyo = datetime.fromisoformat(told["datetime"])
    assert tokyo.utcoffset() == timedelta(hours=9)  # Japan keeps no summer time
    assert abs(tokyo - datetime.now(UTC)) < timedelta(minutes=5)
    assert told["day_of_week"] == tokyo.strftime("%A")

    converted = json.loads(noon.content)
    source = datetime.fromisoformat(converted["source"]["datetime"])
    target = datetime.fromisoformat(converted["target"]["datetime"])
    assert (source.hour, source.minute) == (12, 0)
    london, new_york = ZoneInfo("Europe/London"), ZoneInfo("America/New_York")
    assert source.utcoffset() == source.replace(tzinfo=london).utcoffset()
    assert target == source  # the same instant...
    assert target.utcoffset() == source.astimezone(new_york).utcoffset()  # ...in New York


def test_time_an_unknown_timezone_is_an_error_the_model_reads(
    loop: asyncio.Runner, time_server: Served
) -> None:
    [result], _ = run(loop, time_server, call("c1", "get_current_time", timezone="Mars/Olympus"))
    assert result.is_error
    assert result.error_kind == ErrorKind.EXCEPTION
    assert result.attempts == 1  # the server ran it and said no
    assert "Invalid timezone" in result.content
    assert "Mars/Olympus" in result.content


def test_time_arguments_against_the_schema_never_reach_the_server(
    loop: asyncio.Runner, time_server: Served
) -> None:
    results, _ = run(
        loop,
        time_server,
        call("missing", "convert_time", source_timezone="Europe/London", time="12:00"),
        call("wrong_type", "get_current_time", timezone=["Asia/Tokyo"]),
        call("unknown", "get_current_time", timezone="Asia/Tokyo", tz="UTC"),
        ToolCall("not_json", "get_current_time", '{"timezone": '),
        call("fine", "get_current_time", timezone="Etc/UTC"),
    )
    *refused, fine = results
    for result, field in zip(refused, ["target_timezone", "timezone", "tz", None], strict=True):
        assert result.error_kind == ErrorKind.INVALID_ARGUMENTS, result
        assert result.attempts == 0
        assert result.started_at is None
        assert field is None or field in result.content
    assert not fine.is_error
    assert json.loads(fine.content)["timezone"] == "Etc/UTC"


# -- @modelcontextprotocol/server-everything (npm), over stdio and Streamable HTTP ---------------


READS = {
    "echo",
    "get-annotated-message",
    "get-env",
    "get-resource-links",
    "get-resource-reference",
    "get-structured-content",
    "get-sum",
    "get-tiny-image",
    LONG,
}
WRITES = {"toggle-simulated-logging", "toggle-subscriber-updates", "gzip-file-as-resource"}


def test_everything_every_page_listed_and_hints_become_keys(
    loop: asyncio.Runner, everything: Served
) -> None:
    pages, raw = loop.run(raw_listing(everything.target))
    assert pages >= 1
    # Every tool of every page, none left out: the same names a plain SDK client lists.
    assert set(everything.tools) == {t.name for t in raw}
    assert set(everything.tools) >= READS | WRITES
    key = "mcp:everything"
    for remote in raw:
        tool, hints = everything.tools[remote.name], everything.server.annotations[remote.name]
        assert hints == remote.annotations  # kept as sent
        assert hints is not None, remote.name  # this server annotates every tool
        if hints.read_only_hint:
            assert tool.access({}) == Access(reads=frozenset({key})), remote.name
            assert tool.is_read_only
            assert tool.idempotent
        else:
            assert tool.access({}) == Access(writes=frozenset({key})), remote.name
            assert not tool.is_read_only
            assert tool.idempotent is bool(hints.idempotent_hint), remote.name
    assert {n for n, t in everything.tools.items() if t.is_read_only} >= READS
    assert not {n for n, t in everything.tools.items() if t.is_read_only} & WRITES
    assert everything.tools["gzip-file-as-resource"].idempotent  # a write that says idempotent
    assert not everything.tools["toggle-simulated-logging"].idempotent


def test_everything_echo_and_add(loop: asyncio.Runner, everything: Served) -> None:
    results, _ = run(
        loop,
        everything,
        call("e", "echo", message="hello, volley"),
        call("s", "get-sum", a=2, b=3.5),
        call("bad", "get-sum", a=2),
    )
    echo, total, bad = results
    assert (echo.content, echo.value, echo.is_error) == ("Echo: hello, volley",) * 2 + (False,)
    assert total.content == "The sum of 2 and 3.5 is 5.5."
    assert bad.error_kind == ErrorKind.INVALID_ARGUMENTS
    assert bad.attempts == 0
    assert "b" in bad.content


def test_everything_tiny_image_is_an_image_with_png_bytes(
    loop: asyncio.Runner, everything: Served
) -> None:
    [result], _ = run(loop, everything, call("i", "get-tiny-image"))
    assert not result.is_error
    before, image, after = result.parts
    assert before == "Here's the image you requested:"
    assert after == "The image above is the MCP logo."
    assert isinstance(image, Image)
    assert image.media_type == "image/png"
    assert image.data.startswith(PNG_SIGNATURE)
    assert image.data[12:16] == b"IHDR"
    assert struct.unpack(">II", image.data[16:24]) == (20, 20)
    assert "[image: image/png" in result.content  # the text-only rendering names it


def test_everything_structured_content_is_the_value(
    loop: asyncio.Runner, everything: Served
) -> None:
    assert everything.tools["get-structured-content"].is_read_only
    [result], _ = run(loop, everything, call("w", "get-structured-content", location="Chicago"))
    weather = {"temperature": 36, "conditions": "Light rain / drizzle", "humidity": 82}
    assert result.value == weather
    assert json.loads(result.content) == weather  # the server's own text, for the model


def test_everything_progress_reaches_the_listener(loop: asyncio.Runner, everything: Served) -> None:
    results, heard = run(loop, everything, call("long", LONG, duration=0.3, steps=3))
    [done] = results
    assert done.content == "Long running operation completed. Duration: 0.3 seconds, Steps: 3."
    assert heard == [Progress("long", LONG, float(step), 3.0) for step in (1, 2, 3)]


def test_everything_reads_overlap_on_one_session(loop: asyncio.Runner, everything: Served) -> None:
    results, heard = run(
        loop,
        everything,
        call("a", LONG, duration=0.6, steps=3),
        call("b", LONG, duration=0.6, steps=2),
    )
    assert not any(r.is_error for r in results)
    a, b = ids(heard, "a"), ids(heard, "b")
    assert len(a) == 3
    assert len(b) == 2
    # Each was under way (had reported a step) before the other reported its last one.
    order = [(p.call_id, p.progress) for p in heard]
    assert a[0] < b[-1], order
    assert b[0] < a[-1], order


def test_everything_writes_run_alone_and_in_order(loop: asyncio.Runner, everything: Served) -> None:
    # Two identical reads with two writes between: each toggle runs after the first read ends,
    # the second toggle sees the first one's state, and the last read starts after both.
    results, heard = run(
        loop,
        everything,
        call("before", LONG, duration=0.4, steps=2),
        call("on", "toggle-simulated-logging"),
        call("off", "toggle-simulated-logging"),
        call("after", LONG, duration=0.4, steps=2),
    )
    before, on, off, after = results
    assert on.content.startswith("Started simulated"), on.content
    assert off.content.startswith("Stopped simulated"), off.content
    assert after.duplicate_of is None  # a read after a write is not the read before it
    assert not before.is_error
    assert not after.is_error
    assert max(ids(heard, "before")) < min(ids(heard, "after"))
    assert [p.call_id for p in heard] == ["before", "before", "after", "after"]


def test_everything_a_timeout_ends_the_call_and_the_session_goes_on(
    loop: asyncio.Runner, everything: Served
) -> None:
    [stopped], late = run(loop, everything, call("slow", LONG, duration=0.6, steps=3), timeout=0.1)
    assert stopped.error_kind == ErrorKind.TIMEOUT
    assert stopped.is_error
    assert "0.1 s" in stopped.content
    # The next call outlasts the stopped one on the server (which does not heed cancellation):
    # its late progress and result must not reach anyone, nor be taken for the new call's.
    results, heard = run(
        loop,
        everything,
        call("next", LONG, duration=0.8, steps=2),
        call("echo", "echo", message="still here"),
    )
    assert [r.content for r in results] == [
        "Long running operation completed. Duration: 0.8 seconds, Steps: 2.",
        "Echo: still here",
    ]
    assert heard == [Progress("next", LONG, float(step), 2.0) for step in (1, 2)]
    assert late == []


@pytest.mark.parametrize("everything", ["stdio"], indirect=True)
def test_everything_stdio_env_reaches_the_server_and_nothing_else(
    loop: asyncio.Runner, everything: Served
) -> None:
    [result], _ = run(loop, everything, call("env", "get-env"))
    env = json.loads(result.content)
    assert env["VOLLEY_PROBE"] == "from volley"
    assert "PATH" in env
    assert "PYTEST_CURRENT_TEST" not in env  # this process's environment is not passed on


def test_everything_resource_links_become_text(loop: asyncio.Runner, everything: Served) -> None:
    [result], _ = run(loop, everything, call("r", "get-resource-links", count=2))
    lines = result.content.splitlines()
    assert lines[1:] == [
        "[resource link: Blob Resource 1 <demo://resource/dynamic/blob/1>]",
        "[resource link: Text Resource 2 <demo://resource/dynamic/text/2>]",
    ]


def test_everything_default_name_is_not_the_script_file() -> None:
    node = shutil.which("node") or "node"
    servers = [
        MCPServer.stdio(node, [str(EVERYTHING_DEFAULT), "stdio"]),
        MCPServer.stdio(node, [str(EVERYTHING_DEFAULT).replace("everything", "filesystem")]),
    ]
    assert servers[0].scope != servers[1].scope
    assert all(server.name != "index" for server in servers)
