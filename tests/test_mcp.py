"""MCP servers as tools, against the tests' own server (the SDK's server API) over stdio and HTTP.

What is checked from the server's side (its log of starts and ends) is what the server saw: a
write ran alone, reads overlapped, a cancellation reached it.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from _adapters import ADAPTERS, close
from _mcp import http_server, notes_stdio, server_log

from volley import (
    Agent,
    ConfigurationError,
    ErrorKind,
    Executor,
    Image,
    ModelTurn,
    Progress,
    RunError,
    ToolCall,
    ToolResult,
    ToolReturns,
    tool,
)
from volley.mcp import MCPConnectionError, MCPServer
from volley.providers import ModelRequest
from volley.providers.function import FunctionProvider
from volley.sim import SimServer, parse_scenario

pytestmark = pytest.mark.timeout(60)


def run(coro: Any) -> Any:
    return asyncio.run(coro)


async def batch(server: MCPServer, *calls: ToolCall, **options: Any) -> list[ToolResult]:
    async with Executor(await server.list_tools(), **options) as ex:
        return await ex.run(calls)


def call(i: int, name: str, **arguments: Any) -> ToolCall:
    return ToolCall(f"c{i}", name, json.dumps(arguments))


@pytest.fixture
def log(tmp_path: Path) -> Path:
    return tmp_path / "server.log"


@pytest.fixture(scope="module")
def http_notes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path, Any]]:
    """One server process for the module, over Streamable HTTP: starting one costs seconds
    (importing the SDK), connecting to it does not. Tests use keys of their own."""
    log = tmp_path_factory.mktemp("http") / "server.log"
    with http_server("tests.mcp_servers.notes", log) as (url, process):
        yield url, log, process


@pytest.fixture
def notes(http_notes: tuple[str, Path, Any]) -> Callable[..., MCPServer]:
    """A new client of the module's server; its log starts empty."""
    url, log, _ = http_notes
    log.unlink(missing_ok=True)

    def connect(**options: Any) -> MCPServer:
        options.setdefault("name", "notes")
        return MCPServer.http(url, **options)

    return connect


# -- the listing: hints become scheduling ------------------------------------------------------


def test_hints_become_keys_with_the_spec_defaults(notes: Callable[..., MCPServer]) -> None:
    async def main() -> dict[str, Any]:
        async with notes() as server:
            return {t.name: t for t in await server.list_tools()}

    tools = run(main())
    scope = "mcp:notes"
    keys = {name: (t.reads, t.writes, t.idempotent) for name, t in tools.items()}
    assert keys["read_note"] == ([scope], None, True)
    assert tools["read_note"].is_read_only
    assert keys["write_note"] == (None, [scope], False)
    assert keys["set_flag"] == (None, [scope], True)
    # No annotations at all: the spec's defaults (readOnlyHint false) make it a write.
    assert keys["unannotated"] == (None, [scope], False)


def test_untrusted_servers_only_write_and_corrections_win(
    caplog: pytest.LogCaptureFixture, notes: Callable[..., MCPServer]
) -> None:
    def file_key(arguments: Any) -> list[str]:
        return [f"note:{arguments['key']}"]

    async def main() -> tuple[dict[str, Any], dict[str, Any]]:
        async with notes(trust_annotations=False) as untrusted:
            plain = {t.name: t for t in await untrusted.list_tools()}
        corrections: Any = {"write_note": {"writes": file_key}, "no_such_tool": {"timeout": 1}}
        async with notes(tools=corrections, prefix="n_", retries=2) as fixed:
            refined = {t.name: t for t in await fixed.list_tools()}
        return plain, refined

    with caplog.at_level(logging.WARNING, "volley.mcp"):
        plain, refined = run(main())
    assert all(list(t.writes) == ["mcp:notes"] for t in plain.values())
    assert set(refined) == {f"n_{name}" for name in plain}
    assert (refined["n_write_note"].writes, refined["n_write_note"].reads) == (file_key, None)
    assert (refined["n_read_note"].retries, refined["n_write_note"].retries) == (2, 0)
    assert "no_such_tool" in caplog.text


# -- running: reads overlap, writes alone and in order --------------------------------------------


def test_one_session_runs_reads_at_once_and_a_write_alone_in_order(log: Path) -> None:
    async def main() -> list[ToolResult]:
        async with notes_stdio(log) as server:
            return await batch(
                server,
                call(0, "read_note", key="a", delay=0.05),
                call(1, "read_note", key="b", delay=0.05),
                call(2, "write_note", key="a", text="new", delay=0.02),
                call(3, "read_note", key="a", delay=0.05),
                call(4, "read_note", key="c", delay=0.05),
            )

    results = run(main())
    assert [r.content for r in results] == ["", "", "wrote a", "new", ""]
    events = [(e["event"], e["tool"], e["key"]) for e in server_log(log)]
    assert sorted(events[:2]) == [("start", "read_note", "a"), ("start", "read_note", "b")]
    write = events.index(("start", "write_note", "a"))
    assert events[write + 1] == ("end", "write_note", "a")  # nothing overlapped the write
    assert write == 4  # after both earlier reads ended
    assert {e[0] for e in events[6:8]} == {"start"}  # the later reads overlap each other


def test_results_text_media_values_and_errors(notes: Callable[..., MCPServer]) -> None:
    async def main() -> list[ToolResult]:
        async with notes() as server:
            return await batch(
                server,
                call(0, "picture"),
                call(1, "weather", city="Oslo"),
                call(2, "fail", message="no such file: a.txt"),
                call(3, "read_note"),  # missing a required argument: the server never sees it
            )

    picture, weather, fail, invalid = run(main())
    text, image = picture.parts
    assert text == "a pixel:"
    assert isinstance(image, Image)
    assert image.data.startswith(b"\x89PNG")
    assert picture.content.startswith("a pixel:\n[image: image/png")
    assert weather.value == {"city": "Oslo", "celsius": 21.5}
    assert '"Oslo"' in weather.content
    assert fail.is_error
    assert "no such file: a.txt" in fail.content
    assert "ToolError" not in fail.content  # the server's words, not a Python exception's name
    assert invalid.error_kind == ErrorKind.INVALID_ARGUMENTS


def test_progress_reaches_the_batch_listener(notes: Callable[..., MCPServer]) -> None:
    heard: list[Progress] = []

    async def main() -> ToolResult:
        async with notes() as server, Executor(await server.list_tools()) as ex:
            b = ex.batch(on_progress=heard.append)
            b.submit(call(0, "count_up", steps=3))
            (result,) = await b.close()
            return result

    result = run(main())
    assert result.content == "counted 3"
    assert [(p.call_id, p.name, p.progress, p.total) for p in heard] == [
        ("c0", "count_up", float(step), 3.0) for step in (1, 2, 3)
    ]
    assert heard[-1].message == "step 3"


def test_a_timeout_cancels_on_the_server_and_the_session_goes_on(
    notes: Callable[..., MCPServer], http_notes: tuple[str, Path, Any]
) -> None:
    log = http_notes[1]

    async def main() -> tuple[list[ToolResult], list[ToolResult]]:
        async with notes() as server:
            tools = await server.list_tools()
            async with Executor(tools, timeout=0.3) as ex:
                first = await ex.run([call(0, "hang"), call(1, "read_note", key="x")])
                for _ in range(100):  # the cancellation travels to the server
                    if any(e["event"] == "cancelled" for e in server_log(log)):
                        break
                    await asyncio.sleep(0.02)
                second = await ex.run([call(2, "write_note", key="x", text="y")])
                return first, second

    (hang, read), (write,) = run(main())
    assert (hang.error_kind, read.is_error) == (ErrorKind.TIMEOUT, False)
    assert ("cancelled", "hang") in [(e["event"], e["tool"]) for e in server_log(log)]
    assert write.content == "wrote x"


# -- faults: a dying server, one that cannot start ---------------------------------------------


def test_a_server_that_dies_answers_every_call_and_is_restarted_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # `die` declared a read here, so that a read is in flight on the server when it dies.
    overlapping: Any = {"die": {"reads": ["mcp:notes"]}}

    async def main() -> list[list[ToolResult]]:
        async with notes_stdio(tools=overlapping) as server:
            tools = await server.list_tools()
            async with Executor(tools, timeout=20) as ex:
                died = await ex.run([call(0, "read_note", key="a", delay=10), call(1, "die")])
                after = await ex.run([call(2, "read_note", key="a")])  # restarted
                again = await ex.run([call(3, "die")])
                last = await ex.run([call(4, "read_note", key="a")])  # no second restart
                return [died, after, again, last]

    with caplog.at_level(logging.WARNING, "volley.mcp"):
        (read, die), (after,), (again,), (last,) = run(main())
    for lost in (read, die, again):  # answered at once, not at their timeouts
        assert lost.error_kind == ErrorKind.EXCEPTION
        assert "closed the connection during the call" in lost.content
    assert "whether it took effect is unknown" not in read.content  # a read
    assert (after.is_error, after.content) == (False, "")  # a fresh process: no notes
    assert last.is_error
    assert "not started again" in last.content
    assert "starting it again (1 of 1)" in caplog.text


def test_connect_failures_are_one_clear_error() -> None:
    async def main(server: MCPServer) -> None:
        async with server:
            pass

    with pytest.raises(MCPConnectionError, match=r"could not connect .*/no/such/mcp-server"):
        run(main(MCPServer.stdio("/no/such/mcp-server")))
    silent = MCPServer.stdio("python3", ["-c", "import time; time.sleep(30)"], connect_timeout=0.5)
    with pytest.raises(MCPConnectionError, match=r"did not finish its handshake within 0\.5 s"):
        run(main(silent))
    with pytest.raises(MCPConnectionError, match="could not connect"):
        run(main(MCPServer.http("http://127.0.0.1:9/mcp", connect_timeout=5)))


# -- Streamable HTTP -------------------------------------------------------------------------


def test_over_http_reads_overlap_and_writes_serialize(
    notes: Callable[..., MCPServer], http_notes: tuple[str, Path, Any]
) -> None:
    url, log, _ = http_notes

    async def main() -> list[ToolResult]:
        async with MCPServer.http(url, headers={"X-Test": "1"}, name="web") as server:
            return await batch(
                server,
                call(0, "write_note", key="h", text="1", delay=0.02),
                call(1, "read_note", key="h", delay=0.05),
                call(2, "read_note", key="h", delay=0.05),
                call(3, "picture"),
            )

    results = run(main())
    assert [r.content for r in results[:3]] == ["wrote h", "1", "1"]
    assert isinstance(results[3].parts[1], Image)
    events = [(e["event"], e["tool"]) for e in server_log(log)]
    assert events[:2] == [("start", "write_note"), ("end", "write_note")]


def test_an_http_server_that_goes_away_gives_error_results(tmp_path: Path) -> None:
    async def main(url: str, process: Any) -> list[ToolResult]:
        async with MCPServer.http(url, name="gone", restarts=0, connect_timeout=5) as server:
            tools = await server.list_tools()
            async with Executor(tools, timeout=10) as ex:
                process.kill()
                process.wait()
                return await ex.run(
                    [call(0, "read_note", key="a"), call(1, "write_note", key="a", text="b")]
                )

    with http_server("tests.mcp_servers.notes") as (url, process):
        results = run(main(url, process))
    assert all(r.is_error for r in results)
    assert all(r.error_kind != ErrorKind.TIMEOUT for r in results)  # told, not timed out


# -- an Agent with servers among its tools ---------------------------------------------------


def scripted(*turns: list[ToolCall]) -> FunctionProvider:
    """A model that asks for these calls, one message per turn, then answers with the results."""
    script = list(turns)

    def respond(request: ModelRequest) -> ModelTurn:
        if script:
            return ModelTurn(text="", calls=tuple(script.pop(0)))
        last = request.messages[-1]
        if not isinstance(last, ToolReturns):
            return ModelTurn(text="nothing to do")
        return ModelTurn(text=" | ".join(r.content for r in last.results))

    return FunctionProvider(respond)


@tool(effects="read")
def local_clock() -> str:
    """A local tool beside the servers."""
    return "noon"


@pytest.mark.parametrize("adapter", ADAPTERS, ids=lambda a: a.__name__)
def test_an_agent_over_each_wire_format_reads_what_it_wrote_in_one_turn(
    adapter: Any, notes: Callable[..., MCPServer]
) -> None:
    """The model writes then reads one server in one message: the read sees the write."""
    script = json.dumps(
        {
            "turns": [
                {
                    "calls": [
                        {
                            "name": "write_note",
                            "arguments": {"key": "k", "text": "v", "delay": 0.05},
                        },
                        {"name": "read_note", "arguments": {"key": "k"}},
                        {"name": "local_clock", "arguments": {}},
                    ]
                },
                {"text": "{result[0]} | {result[1]} | {result[2]}"},
            ]
        }
    )

    async def main() -> str:
        async with SimServer(parse_scenario(script), time_scale=0) as server:
            provider = adapter(server)
            try:
                async with Agent(provider, [notes(), local_clock]) as agent:
                    return (await agent.run("go")).output
            finally:
                await close(provider)

    assert run(main()) == "wrote k | v | noon"


def test_servers_are_opened_once_listed_per_run_relisted_when_changed_and_closed() -> None:
    server = notes_stdio()
    model = scripted([call(0, "grow")], [call(1, "fresh")])

    async def main() -> tuple[str, bool]:
        agent = Agent(model, [server, local_clock])
        try:
            result = await agent.run("go")
        finally:
            await agent.aclose()
        return result.output, server.tools_changed

    output, _ = run(main())
    assert output == "fresh!"
    first, second = ({t.name for t in r.tools} for r in model.requests[:2])
    assert "fresh" not in first
    assert {"fresh", "local_clock"} <= second
    assert server._connection is None  # closed with the agent


def test_two_servers_with_one_tool_name_need_a_prefix(notes: Callable[..., MCPServer]) -> None:
    model = scripted()

    async def main(*servers: MCPServer) -> Any:
        async with Agent(model, list(servers)) as agent:
            return await agent.run("go")

    with pytest.raises(RunError, match=r"two tools are named 'read_note'.*prefix") as caught:
        run(main(notes(name="a"), notes(name="b")))
    assert isinstance(caught.value.__cause__, ConfigurationError)
    run(main(notes(name="a"), notes(name="b", prefix="b_")))
    offered = {t.name for t in model.requests[-1].tools}
    assert {"read_note", "b_read_note", "b_write_note"} <= offered


def test_when_one_server_cannot_open_the_others_are_closed_again(
    notes: Callable[..., MCPServer],
) -> None:
    good = notes()
    bad = MCPServer.stdio("/no/such/mcp-server", name="bad")

    async def main() -> None:
        async with Agent(scripted(), [good, bad]):
            pass

    with pytest.raises(MCPConnectionError, match="bad"):
        run(main())
    assert good._connection is None


def test_an_agent_run_on_a_new_event_loop_reconnects(notes: Callable[..., MCPServer]) -> None:
    """`run_sync` twice: each run has its own loop, and the session of the first died with it."""
    server = notes(restarts=0)  # reconnecting on a new loop is not a restart
    model = scripted([call(0, "read_note", key="loop")], [call(1, "read_note", key="loop")])
    agent = Agent(model, [server])
    assert agent.run_sync("one").output == ""
    model_again = scripted([call(2, "write_note", key="loop", text="two")])
    agent.model = model_again
    assert agent.run_sync("two").output == "wrote loop"
