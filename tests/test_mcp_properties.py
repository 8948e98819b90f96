"""Properties of MCP scheduling, judged from the server's side: random batches over annotated tools.

For every batch: each call gets exactly one result, in order; the server's log shows no write
overlapping any other call of the server, and reads between two writes overlapping; and every
result, and the notes left behind, equal what running the calls one by one gives.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _hyp import examples
from _mcp import http_server, server_log
from hypothesis import given
from hypothesis import strategies as st

from volley import Executor, ToolCall
from volley.mcp import MCPServer

pytestmark = pytest.mark.timeout(300)

WRITERS = {"write_note", "set_flag", "unannotated"}
DELAYS = st.sampled_from([0.0, 0.01])
KEYS = st.sampled_from(["a", "b"])
CALL = st.one_of(
    st.tuples(st.just("read_note"), st.fixed_dictionaries({"key": KEYS, "delay": DELAYS})),
    st.tuples(
        st.just("write_note"),
        st.fixed_dictionaries({"key": KEYS, "text": st.sampled_from(["x", "y"]), "delay": DELAYS}),
    ),
    st.tuples(st.just("set_flag"), st.fixed_dictionaries({"key": KEYS, "delay": DELAYS})),
    st.tuples(st.just("unannotated"), st.fixed_dictionaries({"delay": DELAYS})),
)


class Session:
    """One event loop and one connection for all examples (starting either costs seconds)."""

    def __init__(self, url: str, log: Path) -> None:
        self.runner = asyncio.Runner()
        self.server = MCPServer.http(url, name="notes")
        self.log = log
        self.tools = self.runner.run(self._list())
        self.batches = itertools.count()

    async def _list(self) -> Any:
        return await self.server.list_tools()

    def close(self) -> None:
        self.runner.run(self.server.aclose())
        self.runner.close()


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Session]:
    log = tmp_path_factory.mktemp("props") / "server.log"
    with http_server("tests.mcp_servers.notes", log) as (url, _):
        opened = Session(url, log)
        try:
            yield opened
        finally:
            opened.close()


def sequential(calls: list[tuple[str, dict[str, Any]]]) -> tuple[list[str], dict[str, str]]:
    """What the calls answer, and the notes they leave, run one by one."""
    notes: dict[str, str] = {}
    answers = []
    for name, arguments in calls:
        if name == "read_note":
            answers.append(notes.get(arguments["key"], ""))
        elif name == "write_note":
            notes[arguments["key"]] = arguments["text"]
            answers.append(f"wrote {arguments['key']}")
        elif name == "set_flag":
            notes[arguments["key"]] = "flag"
            answers.append("set")
        else:
            answers.append("done")
    return answers, notes


@examples(60)
@given(batch=st.lists(CALL, min_size=1, max_size=8))
def test_a_batch_on_one_server_is_as_if_one_by_one_and_writes_run_alone(
    session: Session, batch: list[tuple[str, dict[str, Any]]]
) -> None:
    n = next(session.batches)
    calls = [  # keys of this example's own: the server's notes outlive examples
        (name, {**args, "key": f"{n}/{args['key']}"} if "key" in args else args)
        for name, args in batch
    ]
    session.log.unlink(missing_ok=True)

    async def main() -> tuple[list[Any], list[Any]]:
        async with Executor(session.tools) as ex:
            results = await ex.run(
                [ToolCall(f"c{i}", name, json.dumps(args)) for i, (name, args) in enumerate(calls)]
            )
            keys = sorted({args["key"] for _, args in calls if "key" in args})
            after = await ex.run([ToolCall(f"r{k}", "read_note", {"key": k}) for k in keys])
            return results, list(zip(keys, after, strict=True))

    results, after = session.runner.run(main())
    answers, notes = sequential(calls)
    assert [r.call_id for r in results] == [f"c{i}" for i in range(len(calls))]
    assert [r.content for r in results] == answers
    assert {key: result.content for key, result in after} == {k: notes.get(k, "") for k, _ in after}

    events = [e for e in server_log(session.log) if e["key"].startswith(f"{n}/") or not e["key"]]
    running = 0
    most_reads = 0
    for event, following in itertools.zip_longest(events, events[1:]):
        if event["event"] == "start":
            if event["tool"] in WRITERS:
                assert running == 0, f"a write started while {running} call(s) ran: {events}"
                assert following is not None
                assert (following["event"], following["tool"]) == ("end", event["tool"])
            running += 1
            if event["tool"] == "read_note":
                most_reads = max(most_reads, running)
        else:
            running -= 1
    if _overlapping_reads(calls):
        assert most_reads >= 2, f"reads between writes did not overlap: {events}"


def _overlapping_reads(calls: list[tuple[str, dict[str, Any]]]) -> bool:
    """Whether two different reads that take time have no write between them (so must overlap)."""
    run: set[tuple[str, float]] = set()
    for name, args in calls:
        if name in WRITERS:
            run = set()
        elif args["delay"] > 0:
            run.add((args["key"], args["delay"]))
            if len(run) >= 2:
                return True
    return False
