"""volley inside Pydantic AI: `VolleyToolset` against real agents driven by `FunctionModel`.

Order and overlap are judged from what the tools record (starts, ends, a counter of calls
running at once), never from the clock. Each scenario also runs with the plain toolset: where
volley must change something (a create-then-update race) the plain run goes wrong; where it must
not (errors, retries, bad arguments, unknown tools) both runs give the same messages.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from _hyp import examples
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel
from pydantic_ai import Agent, EndStrategy, ModelRetry, RunContext, Tool, capture_run_messages
from pydantic_ai.capabilities import AbstractCapability
from pydantic_ai.exceptions import SkipToolExecution
from pydantic_ai.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
)
from pydantic_ai.models.function import AgentInfo, FunctionModel
from pydantic_ai.toolsets import AbstractToolset, FunctionToolset

from volley import ConfigurationError
from volley._errors import MissingExtra
from volley.integrations.pydantic_ai import VolleyToolset, declare

GUARD = 10.0  # a hang fails the test here instead of at pytest's timeout


def record_key(arguments: Any) -> list[str]:
    return [f"record:{arguments['id']}"]


def call(name: str, args: Any, call_id: str) -> ToolCallPart:
    return ToolCallPart(name, args, tool_call_id=call_id)


def scripted(calls: Sequence[ToolCallPart]) -> FunctionModel:
    """A model that sends `calls` in one message, then answers in words."""

    def respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        if len(messages) == 1:
            return ModelResponse(parts=list(calls))
        return ModelResponse(parts=[TextPart("done")])

    return FunctionModel(respond)


def returns(messages: Sequence[ModelMessage]) -> list[ToolReturnPart]:
    """The tool results the model was sent after its message of calls, in the order sent."""
    request = messages[2]
    assert isinstance(request, ModelRequest)
    return [part for part in request.parts if isinstance(part, ToolReturnPart)]


def run(agent: Agent[None, str]) -> Any:
    """The agent's run on a loop of its own, failing rather than hanging."""
    return asyncio.run(asyncio.wait_for(agent.run("go"), GUARD))


def spying() -> tuple[type[VolleyToolset[None]], list[VolleyToolset[None]]]:
    """A VolleyToolset that keeps each run's copy, to look at what is left after the run."""
    runs: list[VolleyToolset[None]] = []

    class Spy(VolleyToolset[None]):
        async def for_run(self, ctx: RunContext[None]) -> AbstractToolset[None]:
            run = await super().for_run(ctx)
            assert isinstance(run, VolleyToolset)
            runs.append(run)
            return run

    return Spy, runs


# --- the race -------------------------------------------------------------------------------


def record_toolset(records: dict[str, str], by_name: bool) -> tuple[FunctionToolset[None], Any]:
    async def create_record(id: str) -> str:
        """Create a draft record."""
        await asyncio.sleep(0.01)  # a database round trip
        records[id] = "draft"
        return f"created {id}"

    async def update_record(id: str, status: str) -> str:
        """Set a record's status."""
        if id not in records:
            raise LookupError(f"no record {id}")
        records[id] = status
        return f"{id} is {status}"

    create, update = Tool(create_record), Tool(update_record)
    if by_name:
        options = {name: {"writes": record_key} for name in ("create_record", "update_record")}
        return FunctionToolset([create, update]), options
    return FunctionToolset(
        [declare(create, writes=record_key), declare(update, writes=record_key)]
    ), None


@pytest.mark.parametrize("by_name", [False, True], ids=["declare", "tools="])
def test_create_then_update_ends_right_through_volley_and_raises_without(by_name: bool) -> None:
    calls = [
        call("create_record", {"id": "R-1"}, "c1"),
        call("update_record", {"id": "R-1", "status": "shipped"}, "c2"),
    ]
    records: dict[str, str] = {}
    plain, _ = record_toolset(records, by_name)
    with pytest.raises(LookupError, match="no record R-1"):
        run(Agent(scripted(calls), toolsets=[plain]))
    assert records.get("R-1") != "shipped"

    records.clear()
    toolset, options = record_toolset(records, by_name)
    result = run(Agent(scripted(calls), toolsets=[VolleyToolset(toolset, tools=options)]))
    assert records == {"R-1": "shipped"}
    assert [part.content for part in returns(result.all_messages())] == [
        "created R-1",
        "R-1 is shipped",
    ]


# --- overlap and order ----------------------------------------------------------------------


def test_reads_overlap_a_write_runs_alone_and_results_come_in_call_order() -> None:
    log: list[tuple[str, str]] = []
    running = {"now": 0, "peak": 0}

    async def get_record(id: str, delay: int) -> str:
        """Read a record."""
        return await body("read", id, delay)

    async def set_record(id: str) -> str:
        """Write a record."""
        return await body("write", id, 1)

    async def body(kind: str, id: str, delay: int) -> str:
        running["now"] += 1
        running["peak"] = max(running["peak"], running["now"])
        log.append(("start", kind))
        for _ in range(delay):
            await asyncio.sleep(0.002)
        log.append(("end", kind))
        running["now"] -= 1
        return f"{kind} {id} after {delay}"

    toolset = FunctionToolset(
        [declare(Tool(get_record), reads=record_key), declare(Tool(set_record), writes=record_key)]
    )
    calls = [
        call("get_record", {"id": "a", "delay": 3}, "c1"),  # the slowest first
        call("get_record", {"id": "a", "delay": 1}, "c2"),
        call("set_record", {"id": "a"}, "c3"),
        call("get_record", {"id": "a", "delay": 2}, "c4"),
        call("get_record", {"id": "a", "delay": 1}, "c5"),
    ]
    spy, runs = spying()
    result = run(Agent(scripted(calls), toolsets=[spy(toolset)]))

    assert running["peak"] == 2  # the reads on either side of the write overlapped
    write_start = log.index(("start", "write"))
    assert log[write_start + 1] == ("end", "write")  # nothing ran during the write
    assert log[:write_start].count(("end", "read")) == 2  # both reads before it had ended
    assert [part.tool_call_id for part in returns(result.all_messages())] == [
        "c1",
        "c2",
        "c3",
        "c4",
        "c5",
    ]
    assert len(runs) == 1
    assert len(runs[0]._state) == 0  # the message's gate was dropped when its calls ended


def test_mcp_annotations_make_read_only_tools_overlap_and_others_serialize() -> None:
    log: list[tuple[str, str]] = []

    def tool(name: str, annotations: dict[str, Any] | None) -> Tool[None]:
        async def body(n: int) -> str:
            log.append(("start", f"{name}{n}"))
            await asyncio.sleep(0.002)
            log.append(("end", f"{name}{n}"))
            return "ok"

        return Tool(body, name=name, metadata={"meta": None, "annotations": annotations})

    toolset = FunctionToolset(
        [tool("look", {"readOnlyHint": True}), tool("change", {"readOnlyHint": False})]
    )
    calls = [
        call("look", {"n": 1}, "c1"),
        call("look", {"n": 2}, "c2"),
        call("change", {"n": 3}, "c3"),
        call("look", {"n": 4}, "c4"),
    ]
    run(Agent(scripted(calls), toolsets=[VolleyToolset(toolset)]))
    assert log[:2] == [("start", "look1"), ("start", "look2")]
    assert log[4:] == [
        ("start", "change3"),
        ("end", "change3"),
        ("start", "look4"),
        ("end", "look4"),
    ]


def notes_server(log: Path) -> Any:
    """Pydantic AI's own MCP toolset on the tests' notes server, a real process over stdio."""
    pytest.importorskip("fastmcp", reason="Pydantic AI's MCP toolset needs pydantic-ai-slim[mcp]")
    from fastmcp.client.transports import StdioTransport
    from pydantic_ai.mcp import MCPToolset

    transport = StdioTransport(
        sys.executable,
        ["-m", "tests.mcp_servers.notes", "stdio"],
        env={**os.environ, "NOTES_LOG": str(log)},
        cwd=str(Path(__file__).parents[1]),
    )
    return MCPToolset(transport, id="notes")


def test_a_real_mcp_server_is_scheduled_by_its_tools_annotations(tmp_path: Path) -> None:
    # read_note is read-only: the reads share `mcp:notes`; write_note is not: it writes it.
    calls = [
        call("read_note", {"key": "a", "delay": 0.2}, "c1"),
        call("read_note", {"key": "b", "delay": 0.2}, "c2"),
        call("write_note", {"key": "r", "text": "draft", "delay": 0.2}, "c3"),  # the create
        call("write_note", {"key": "r", "text": "shipped"}, "c4"),  # the update
        call("read_note", {"key": "r"}, "c5"),
    ]

    def through(volley: bool) -> tuple[list[Any], list[dict[str, Any]]]:
        log = tmp_path / f"{volley}.jsonl"
        server = notes_server(log)
        toolset = VolleyToolset(server) if volley else server
        result = run(Agent(scripted(calls), toolsets=[toolset]))
        events = [json.loads(line) for line in log.read_text().splitlines()]
        return [part.content for part in returns(result.all_messages())], events

    answers, events = through(volley=True)
    assert answers == ["", "", "wrote r", "wrote r", "shipped"]  # the update came last
    starts = [(e["tool"], e["key"]) for e in events if e["event"] == "start"]
    assert starts[:2] in (
        [("read_note", "a"), ("read_note", "b")],
        [("read_note", "b"), ("read_note", "a")],
    )  # the two reads overlapped: both started before either ended
    assert [e["event"] for e in events[:2]] == ["start", "start"]
    assert [(e["event"], e["tool"], e["key"]) for e in events[4:]] == [
        ("start", "write_note", "r"),  # after both reads had ended
        ("end", "write_note", "r"),
        ("start", "write_note", "r"),
        ("end", "write_note", "r"),
        ("start", "read_note", "r"),
        ("end", "read_note", "r"),
    ]
    _, plain = through(volley=False)
    writes = [e["event"] for e in plain if e["tool"] == "write_note"]
    assert writes[:2] == ["start", "start"]  # without volley the update ran during the create


# --- hostile input: as without volley, and never a hang --------------------------------------


def hostile_toolset(ran: list[str]) -> FunctionToolset[None]:
    async def write(key: str, value: int) -> str:
        """Store a value."""
        await asyncio.sleep(0.001)
        ran.append(f"write {key}={value}")
        return "ok"

    async def flaky(key: str) -> str:
        """Asks the model to try again."""
        raise ModelRetry("try again later")

    async def boom(key: str) -> str:
        """Fails."""
        raise RuntimeError("boom")

    def refuse(ctx: RunContext[None], key: str) -> None:
        raise ModelRetry(f"{key} is not allowed")

    async def guarded(key: str) -> str:
        """Refused by its validator."""
        ran.append("guarded")
        return "never"

    writes = {"writes": lambda a: [a["key"]]}
    return FunctionToolset(
        [
            declare(Tool(write), **writes),  # type: ignore[arg-type]
            declare(Tool(flaky), **writes),  # type: ignore[arg-type]
            declare(Tool(boom), **writes),  # type: ignore[arg-type]
            declare(Tool(guarded, args_validator=refuse), **writes),  # type: ignore[arg-type]
        ]
    )


LATER = call("write", {"key": "a", "value": 2}, "c9")  # conflicts with the call before it

HOSTILE = {
    "invalid arguments": [call("write", {"key": "a", "value": "x"}, "c1"), LATER],
    "malformed JSON": [call("write", '{"key": "a", "value":', "c1"), LATER],
    "unknown tool": [call("wirte", {"key": "a", "value": 1}, "c1"), LATER],
    "ModelRetry": [call("flaky", {"key": "a"}, "c1"), LATER],
    "validator refuses": [call("guarded", {"key": "a"}, "c1"), LATER],
    "tool raises": [call("boom", {"key": "a"}, "c1"), LATER],
    "duplicate ids": [
        call("write", {"key": "a", "value": 1}, "c1"),
        call("write", {"key": "a", "value": 2}, "c1"),
    ],
}


def outcome(toolset: AbstractToolset[None], calls: Sequence[ToolCallPart]) -> tuple[Any, ...]:
    """What a run ends with (the answer, or the exception) and what the model was sent."""

    async def run() -> str:
        return (await Agent(scripted(calls), toolsets=[toolset]).run("go")).output

    with capture_run_messages() as messages:
        try:
            ended: Any = asyncio.run(asyncio.wait_for(run(), GUARD))
        except Exception as exc:
            ended = (type(exc), str(exc))
    sent = [
        [
            (type(p).__name__, getattr(p, "tool_call_id", None), str(getattr(p, "content", "")))
            for p in message.parts
        ]
        for message in messages
    ]
    return ended, sent


@pytest.mark.parametrize("case", list(HOSTILE))
def test_hostile_calls_behave_as_without_volley_and_never_hang(case: str) -> None:
    calls = HOSTILE[case]
    ran_plain: list[str] = []
    plain = outcome(hostile_toolset(ran_plain), calls)
    ran: list[str] = []
    spy, runs = spying()
    through = outcome(spy(hostile_toolset(ran)), calls)
    assert through == plain
    assert ran == ran_plain
    assert "guarded" not in ran
    if case not in ("tool raises", "duplicate ids"):
        assert through[0] == "done"
        assert ran == ["write a=2"]  # the later write was not held by a call that never ran
    assert len(runs[0]._state) == 0


class Refusing(AbstractCapability[None]):
    """Refuses the calls of `write` with value 1 after validation, the way `how` says."""

    def __init__(self, how: str) -> None:
        self.how = how

    def refused(self, call: ToolCallPart) -> bool:
        return call.tool_name == "write" and call.args_as_dict().get("value") == 1

    async def after_tool_validate(self, ctx: Any, *, call: Any, tool_def: Any, args: Any) -> Any:
        if self.how == "after_tool_validate" and self.refused(call):
            raise ModelRetry("not now")
        return args

    async def before_tool_execute(self, ctx: Any, *, call: Any, tool_def: Any, args: Any) -> Any:
        if self.refused(call):
            if self.how == "before_tool_execute":
                raise SkipToolExecution("skipped")
            if self.how == "a slow hook that lets it through":
                await asyncio.sleep(0.05)  # still on its way: the later write must wait for it
        return args

    async def wrap_tool_execute(
        self, ctx: Any, *, call: Any, tool_def: Any, args: Any, handler: Any
    ) -> Any:
        if self.how == "wrap_tool_execute" and self.refused(call):
            return "answered by the hook"
        return await handler(args)


HOOKS = [
    "after_tool_validate",
    "before_tool_execute",
    "wrap_tool_execute",
    "a slow hook that lets it through",
]


@pytest.mark.parametrize("how", HOOKS)
def test_a_call_a_hook_refuses_after_validation_holds_nothing_back(how: str) -> None:
    calls = [
        call("write", {"key": "a", "value": 1}, "c1"),  # refused on its way to the toolset
        call("write", {"key": "a", "value": 2}, "c2"),  # conflicts with it: must not wait forever
        call("write", {"key": "b", "value": 3}, "c3"),
    ]

    def ending(toolset: AbstractToolset[None]) -> Any:
        agent = Agent(scripted(calls), toolsets=[toolset], capabilities=[Refusing(how)])
        result = run(agent)  # a hang fails here, at GUARD, not at pytest's timeout
        return result.output, [(p.tool_call_id, p.content) for p in returns(result.all_messages())]

    ran_plain: list[str] = []
    plain = ending(hostile_toolset(ran_plain))
    ran: list[str] = []
    spy, runs = spying()
    assert ending(spy(hostile_toolset(ran))) == plain
    if how == "a slow hook that lets it through":
        on_a = [r for r in ran if "a=" in r]
        assert on_a == ["write a=1", "write a=2"]  # in the model's order
        assert [r for r in ran_plain if "a=" in r] == ["write a=2", "write a=1"]  # overtaken
    else:
        assert sorted(ran) == sorted(ran_plain) == ["write a=2", "write b=3"]
    assert len(runs[0]._state) == 0


def test_a_timeout_ends_the_call_as_pydantic_ais_own_tool_timeout_does() -> None:
    async def slow(id: str) -> str:
        """Takes too long."""
        await asyncio.sleep(5)
        return "late"

    calls = [call("slow", {"id": "1"}, "c1")]
    own = outcome(FunctionToolset([Tool(slow, timeout=0.05)]), calls)
    through = outcome(VolleyToolset(FunctionToolset([declare(Tool(slow), timeout=0.05)])), calls)
    assert through == own
    assert "Timed out after 0.05 seconds." in str(through[1][2])


def test_max_concurrency_limits_a_tools_calls_running_at_once() -> None:
    running = {"now": 0, "peak": 0}

    async def fetch(n: int) -> str:
        """Fetch a page."""
        running["now"] += 1
        running["peak"] = max(running["peak"], running["now"])
        await asyncio.sleep(0.01)
        running["now"] -= 1
        return "ok"

    calls = [call("fetch", {"n": n}, f"c{n}") for n in range(6)]
    toolset = FunctionToolset([declare(Tool(fetch), max_concurrency=2)])
    result = run(Agent(scripted(calls), toolsets=[VolleyToolset(toolset)]))
    assert running["peak"] == 2
    assert [part.content for part in returns(result.all_messages())] == ["ok"] * 6


def test_retries_are_refused_where_written_and_their_default_accepted() -> None:
    async def fetch(n: int) -> str:
        """Fetch a page."""
        return "ok"

    with pytest.raises(ConfigurationError, match="retries is not applied here"):
        declare(Tool(fetch), retries=2)
    with pytest.raises(ConfigurationError, match="retries is not applied here"):
        VolleyToolset(FunctionToolset([Tool(fetch)]), tools={"fetch": {"retries": 1}})
    declare(Tool(fetch), retries=0, timeout=None, max_concurrency=None)


class Answer(BaseModel):
    n: int


@pytest.mark.parametrize("strategy", ["graceful", "exhaustive", "early"])
def test_an_output_tool_among_the_calls_behaves_as_without_volley(strategy: EndStrategy) -> None:
    # 'graceful' validates and runs the calls before the output tool, then those after it.
    calls = [
        call("write", {"key": "a", "value": 1}, "c1"),
        call("final_result", {"n": 1}, "c2"),
        call("write", {"key": "a", "value": 3}, "c3"),
        call("write", {"key": "a", "value": 4}, "c4"),
    ]

    def ending(toolset: AbstractToolset[None]) -> Any:
        agent = Agent(
            scripted(calls), toolsets=[toolset], output_type=Answer, end_strategy=strategy
        )
        return run(agent).output  # type: ignore[arg-type]

    ran_plain: list[str] = []
    plain = ending(hostile_toolset(ran_plain))
    ran: list[str] = []
    spy, runs = spying()
    assert ending(spy(hostile_toolset(ran))) == plain == Answer(n=1)
    assert ran == ran_plain
    assert ran == ([] if strategy == "early" else ["write a=1", "write a=3", "write a=4"])
    assert len(runs[0]._state) == 0


def test_a_cancelled_run_releases_waiting_calls_and_leaves_nothing() -> None:
    ran: list[str] = []
    started = asyncio.Event()

    async def hang(key: str) -> str:
        """Never ends."""
        started.set()
        await asyncio.Event().wait()
        return "never"

    async def write(key: str) -> str:
        """Store."""
        ran.append(key)
        return "ok"

    writes: Any = {"writes": lambda a: [a["key"]]}
    toolset = FunctionToolset([declare(Tool(hang), **writes), declare(Tool(write), **writes)])
    spy, runs = spying()
    calls = [call("hang", {"key": "a"}, "c1"), call("write", {"key": "a"}, "c2")]

    async def main() -> None:
        task = asyncio.create_task(Agent(scripted(calls), toolsets=[spy(toolset)]).run("go"))
        await asyncio.wait_for(started.wait(), GUARD)
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(task, GUARD)

    asyncio.run(main())
    assert ran == []  # the write waited for the hung call, and was cancelled waiting
    assert len(runs[0]._state) == 0


# --- declarations ---------------------------------------------------------------------------


def test_a_misspelled_option_fails_where_it_is_written() -> None:
    async def save(id: str) -> str:
        return id

    with pytest.raises(ConfigurationError, match="unknown volley options"):
        declare(Tool(save), write=record_key)  # type: ignore[call-arg]
    with pytest.raises(ConfigurationError, match="unknown volley options"):
        VolleyToolset(FunctionToolset([Tool(save)]), tools={"save": {"write": "x"}})  # type: ignore[typeddict-unknown-key]
    declared = declare(Tool(save, metadata={"other": 1}), writes=record_key)
    assert declared.metadata == {"other": 1, "volley": {"writes": record_key}}


def test_a_missing_extra_is_a_one_line_import_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pydantic_ai", None)
    monkeypatch.delitem(sys.modules, "volley.integrations.pydantic_ai")
    with pytest.raises(MissingExtra, match=r"pip install 'volley-tools\[pydantic-ai\]'") as caught:
        importlib.import_module("volley.integrations.pydantic_ai")
    assert "\n" not in str(caught.value)


# --- property -------------------------------------------------------------------------------

BATCHES = st.lists(
    st.tuples(st.sampled_from(["read", "write"]), st.sampled_from(["a", "b", "c"])),
    min_size=1,
    max_size=8,
)


def property_toolset(store: dict[str, str], log: list[tuple[str, str, str, str]]) -> Any:
    async def step(event: str, call_id: str, kind: str, key: str) -> None:
        log.append((event, call_id, kind, key))
        await asyncio.sleep(0)

    async def read(ctx: RunContext[None], key: str) -> str:
        """Read a key."""
        assert ctx.tool_call_id is not None
        await step("start", ctx.tool_call_id, "read", key)
        value = store.get(key, "")
        await step("end", ctx.tool_call_id, "read", key)
        return value

    async def write(ctx: RunContext[None], key: str, value: str) -> str:
        """Write a key."""
        assert ctx.tool_call_id is not None
        await step("start", ctx.tool_call_id, "write", key)
        store[key] = value
        await step("end", ctx.tool_call_id, "write", key)
        return "ok"

    return FunctionToolset(
        [
            declare(Tool(read), reads=lambda a: [a["key"]]),
            declare(Tool(write), writes=lambda a: [a["key"]]),
        ]
    )


def check_overlaps(log: list[tuple[str, str, str, str]]) -> None:
    running: dict[str, tuple[str, str]] = {}
    for event, call_id, kind, key in log:
        if event == "end":
            del running[call_id]
            continue
        for other, (other_kind, other_key) in running.items():
            clash = other_key == key and "write" in (kind, other_kind)
            assert not clash, f"{call_id} started while {other} ran"
        running[call_id] = (kind, key)


@examples(100)
@given(batch=BATCHES)
def test_random_batches_equal_running_one_by_one(batch: list[tuple[str, str]]) -> None:
    calls = [
        call(kind, {"key": key} | ({"value": f"c{i}"} if kind == "write" else {}), f"c{i}")
        for i, (kind, key) in enumerate(batch)
    ]
    store: dict[str, str] = {}
    expected_store: dict[str, str] = {}
    expected: dict[str, str] = {}
    for i, (kind, key) in enumerate(batch):  # one by one, in the model's order
        if kind == "write":
            expected_store[key] = f"c{i}"
            expected[f"c{i}"] = "ok"
        else:
            expected[f"c{i}"] = expected_store.get(key, "")
    log: list[tuple[str, str, str, str]] = []
    spy, runs = spying()
    agent = Agent(scripted(calls), toolsets=[spy(property_toolset(store, log))])
    result = run(agent)
    got = {part.tool_call_id: part.content for part in returns(result.all_messages())}
    assert got == expected
    assert store == expected_store
    check_overlaps(log)
    assert [len(r._state) for r in runs] == [0]  # nothing of the run is left behind


# --- volley's own work per call ---------------------------------------------------------------


def lines_run(work: Callable[[], Any]) -> int:
    """How many lines of volley's integration code `work` runs (this thread only)."""
    folder = VolleyToolset.__module__.replace(".", "/").rsplit("/", 1)[0]
    count = 0

    def local(frame: Any, event: str, arg: Any) -> Any:
        nonlocal count
        count += event == "line"
        return local

    def scope(frame: Any, event: str, arg: Any) -> Any:
        return local if folder in frame.f_code.co_filename else None

    before = sys.gettrace()
    sys.settrace(scope)
    try:
        work()
    finally:
        sys.settrace(before)
    return count


def test_volleys_work_per_call_does_not_grow_with_the_message() -> None:
    # Every call looks up its message's order: worked out once per batch, not once per call.
    async def look(id: str) -> str:
        """Read."""
        return "ok"

    def per_call(n: int) -> float:
        toolset = FunctionToolset([declare(Tool(look), reads=record_key)])
        calls = [call("look", {"id": "1"}, f"c{i}") for i in range(n)]
        return lines_run(lambda: run(Agent(scripted(calls), toolsets=[VolleyToolset(toolset)]))) / n

    small, large = per_call(10), per_call(160)
    assert large < 1.5 * small, (small, large)


def test_the_installed_versions_are_in_the_extras_range() -> None:
    # Only the range tested (`make test-range` runs its lower end) is known to work.
    import tomllib
    from importlib.metadata import version
    from pathlib import Path as _Path

    from packaging.requirements import Requirement

    pyproject = tomllib.loads((_Path(__file__).parents[1] / "pyproject.toml").read_text())
    for line in pyproject["project"]["optional-dependencies"]["pydantic-ai"]:
        required = Requirement(line)
        installed = version(required.name)
        assert required.specifier.contains(installed), f"{required.name} {installed}: {line}"
