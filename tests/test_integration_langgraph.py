"""volley's LangGraph `ToolNode`: LangGraph's node, with a message's conflicting calls in order.

What is checked, against LangGraph's own node on the same inputs: a create-then-update in one
message ends right through volley's node and wrong through LangGraph's; undeclared and read
calls still overlap; outputs (messages, error texts under every `handle_tool_errors`, `Command`s,
injected arguments, every input form) are the same; and broken input never hangs.
"""

from __future__ import annotations

import asyncio
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from typing import Annotated, Any

import pytest
from _hyp import examples
from hypothesis import given
from hypothesis import strategies as st
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, HumanMessage, ToolCall, ToolMessage
from langchain_core.tools import BaseTool, InjectedToolCallId, tool
from langgraph.prebuilt import InjectedState, InjectedStore, ToolRuntime, create_react_agent
from langgraph.prebuilt import ToolNode as LangGraphToolNode
from langgraph.prebuilt.tool_node import ToolCallWithContext, _default_handle_tool_errors
from langgraph.runtime import Runtime
from langgraph.store.base import BaseStore
from langgraph.store.memory import InMemoryStore
from langgraph.types import Command
from pydantic import BaseModel

from volley import ConfigurationError
from volley.integrations import langgraph as volley_langgraph
from volley.integrations.langgraph import ToolNode, declare, options_of

NODES = [ToolNode, LangGraphToolNode]


def config(store: BaseStore | None = None) -> Any:
    """What a graph hands a node: the runtime (LangGraph's node needs one to run at all)."""
    return {"configurable": {"__pregel_runtime": Runtime(store=store or InMemoryStore())}}


def call(name: str, args: dict[str, Any], cid: str) -> ToolCall:
    return {"name": name, "args": args, "id": cid, "type": "tool_call"}


def run(node: Any, payload: Any, *, sync: bool, cfg: Any = None) -> Any:
    if sync:
        return node.invoke(payload, cfg or config())
    return asyncio.run(node.ainvoke(payload, cfg or config()))


class Records:
    """A tiny store the tools share, and a log of when each call ran."""

    def __init__(self) -> None:
        self.rows: dict[str, str] = {}
        self.log: list[tuple[str, str]] = []
        self.running = 0
        self.most = 0
        self.lock = threading.Lock()

    def enter(self, name: str) -> None:
        with self.lock:
            self.log.append(("start", name))
            self.running += 1
            self.most = max(self.most, self.running)

    def leave(self, name: str) -> None:
        with self.lock:
            self.log.append(("end", name))
            self.running -= 1


def record_tools(records: Records, *, sync: bool, declared: bool = True) -> list[BaseTool]:
    """`create_record` (slow) and `update_record` (needs the record) on one shared dict."""

    def create(id: str) -> str:
        records.rows[id] = "draft"
        return f"created {id}"

    def update(id: str, status: str) -> str:
        if id not in records.rows:
            return f"no record {id}"
        records.rows[id] = status
        return f"updated {id}"

    if sync:

        @tool
        def create_record(id: str) -> str:
            """Create a record."""
            records.enter("create")
            time.sleep(0.05)
            try:
                return create(id)
            finally:
                records.leave("create")

        @tool
        def update_record(id: str, status: str) -> str:
            """Set a record's status."""
            records.enter("update")
            try:
                return update(id, status)
            finally:
                records.leave("update")

    else:

        @tool
        async def create_record(id: str) -> str:
            """Create a record."""
            records.enter("create")
            await asyncio.sleep(0.05)
            try:
                return create(id)
            finally:
                records.leave("create")

        @tool
        async def update_record(id: str, status: str) -> str:
            """Set a record's status."""
            records.enter("update")
            try:
                return update(id, status)
            finally:
                records.leave("update")

    if declared:
        for made in (create_record, update_record):
            declare(made, writes=lambda args: [f"record:{args['id']}"])
    return [create_record, update_record]


CREATE_THEN_UPDATE = [
    call("create_record", {"id": "7"}, "c1"),
    call("update_record", {"id": "7", "status": "done"}, "c2"),
]


def message(calls: list[ToolCall]) -> AIMessage:
    return AIMessage("", tool_calls=calls, id="ai-1")


# --- the race ---------------------------------------------------------------------------------


@pytest.mark.parametrize("sync", [True, False], ids=["invoke", "ainvoke"])
def test_create_then_update_ends_right_through_volley_and_wrong_without(sync: bool) -> None:
    for node_type, row, reply in [
        (ToolNode, "done", "updated 7"),
        (LangGraphToolNode, "draft", "no record 7"),
    ]:
        records = Records()
        node = node_type(record_tools(records, sync=sync))
        out = run(node, {"messages": [message(CREATE_THEN_UPDATE)]}, sync=sync)
        assert records.rows == {"7": row}, node_type
        assert [m.content for m in out["messages"]] == ["created 7", reply]
        assert [m.tool_call_id for m in out["messages"]] == ["c1", "c2"]
    assert records.log[:2] == [("start", "create"), ("start", "update")]  # LangGraph's: at once


@pytest.mark.parametrize("sync", [True, False], ids=["invoke", "ainvoke"])
def test_undeclared_and_read_calls_overlap_and_results_keep_call_order(sync: bool) -> None:
    records = Records()

    def slow_body(n: int) -> str:
        return f"read {n}"

    if sync:

        @tool
        def slow(n: int) -> str:
            """A slow undeclared call."""
            records.enter(f"slow{n}")
            time.sleep(0.03 * (4 - n))  # the first call ends last
            records.leave(f"slow{n}")
            return slow_body(n)

    else:

        @tool
        async def slow(n: int) -> str:
            """A slow undeclared call."""
            records.enter(f"slow{n}")
            await asyncio.sleep(0.03 * (4 - n))
            records.leave(f"slow{n}")
            return slow_body(n)

    reader = declare(slow.model_copy(update={"name": "reader"}), reads=["record:7"])
    node = ToolNode([slow, reader])
    calls = [call("slow", {"n": n}, f"s{n}") for n in range(2)]
    calls += [call("reader", {"n": n}, f"r{n}") for n in range(2, 4)]
    out = run(node, [message(calls)], sync=sync)
    assert records.most == 4  # all four ran at once
    assert [m.content for m in out] == [f"read {n}" for n in range(4)]
    assert [m.tool_call_id for m in out] == ["s0", "s1", "r2", "r3"]


# --- same outputs as LangGraph's node ---------------------------------------------------------


class Boom(Exception):
    pass


def custom_handler(e: ValueError) -> str:
    return f"handled {e}"


HANDLERS: list[Any] = [
    _default_handle_tool_errors,
    True,
    False,
    "the tool failed",
    custom_handler,
    ValueError,
    (ValueError,),
]


def error_tools() -> list[BaseTool]:
    @tool
    def ok(x: int) -> str:
        """Succeeds."""
        return f"ok {x}"

    @tool
    def bad(x: int) -> str:
        """Raises ValueError."""
        raise ValueError(f"bad {x}")

    @tool
    def boom(x: int) -> str:
        """Raises another error."""
        raise Boom(f"boom {x}")

    @tool
    async def aok(x: int) -> str:
        """Succeeds, asynchronously."""
        await asyncio.sleep(0)
        return f"aok {x}"

    for made in (ok, bad, boom, aok):
        declare(made, writes=lambda args: [f"k{args['x'] % 2}"])
    return [ok, bad, boom, aok]


def outcome(node: Any, payload: Any, *, sync: bool, cfg: Any = None) -> Any:
    try:
        out = run(node, payload, sync=sync, cfg=cfg)
    except Exception as exc:
        return ("raised", type(exc), str(exc))
    return ("out", dump(out))


def dump(out: Any) -> Any:
    if isinstance(out, ToolMessage):
        return out.model_dump()
    if isinstance(out, list):
        return [dump(item) for item in out]
    if isinstance(out, dict):
        return {key: dump(value) for key, value in out.items()}
    if isinstance(out, Command):
        return ("command", dump(out.update), out.goto, out.graph)
    return out


CALLS = st.lists(
    st.tuples(
        st.sampled_from(["ok", "bad", "boom", "aok", "missing"]),
        st.one_of(st.integers(0, 3), st.just("not a number")),
        st.sampled_from(["a", "b", "c", "d", "e"]),
    ),
    min_size=1,
    max_size=6,
)


@examples(150)
@given(batch=CALLS, handler=st.sampled_from(HANDLERS), sync=st.booleans())
def test_random_batches_give_the_same_messages_and_errors_as_langgraphs_node(
    batch: list[tuple[str, Any, str]], handler: Any, sync: bool
) -> None:
    calls = [call(name, {"x": x}, cid) for name, x, cid in batch]
    payload = {"messages": [HumanMessage("go"), message(calls)]}
    tools = error_tools()
    ours = outcome(ToolNode(tools, handle_tool_errors=handler), payload, sync=sync)
    theirs = outcome(LangGraphToolNode(tools, handle_tool_errors=handler), payload, sync=sync)
    if ours[0] == theirs[0] == "raised" and ours != theirs:  # several errors: any may be first
        assert sum(name in ("bad", "boom") or x == "not a number" for name, x, _ in batch) > 1
        return
    assert ours == theirs


def test_the_default_handler_answers_bad_arguments_and_raises_tool_errors() -> None:
    tools = error_tools()
    for node_type in NODES:
        node = node_type(tools)
        out = run(node, [call("ok", {"x": "nine"}, "1")], sync=True)["messages"]
        assert out[0].status == "error"
        assert "Error invoking tool 'ok' with kwargs {'x': 'nine'}" in out[0].content
        for sync in (True, False):
            with pytest.raises(ValueError, match="bad 1"):
                run(node, [call("ok", {"x": 1}, "1"), call("bad", {"x": 1}, "2")], sync=sync)


@pytest.mark.parametrize("sync", [True, False], ids=["invoke", "ainvoke"])
def test_every_input_form_gives_langgraphs_output_and_batches_are_ordered(sync: bool) -> None:
    class State(BaseModel):
        messages: list[Any]

    forms: list[Callable[[list[ToolCall]], Any]] = [
        lambda calls: {"messages": [HumanMessage("go"), message(calls)]},
        lambda calls: [HumanMessage("go"), message(calls)],
        lambda calls: list(calls),
        lambda calls: State(messages=[message(calls)]),
    ]
    for form in forms:
        outs = []
        for node_type in NODES:
            records = Records()
            out = run(
                node_type(record_tools(records, sync=sync)), form(CREATE_THEN_UPDATE), sync=sync
            )
            outs.append((dump(out), dict(records.rows)))
        assert outs[0][1] == {"7": "done"}
        assert outs[1][1] == {"7": "draft"}
        assert str(outs[0][0]).replace("updated 7", "no record 7") == str(outs[1][0])
    sent = ToolCallWithContext(
        __type="tool_call_with_context",
        tool_call=CREATE_THEN_UPDATE[0],
        state={"messages": [message(CREATE_THEN_UPDATE[:1])]},
    )
    outs = [dump(run(n(record_tools(Records(), sync=sync)), sent, sync=sync)) for n in NODES]
    assert (
        outs[0]
        == outs[1]
        == {"messages": [dump(ToolMessage("created 7", name="create_record", tool_call_id="c1"))]}
    )


@pytest.mark.parametrize("sync", [True, False], ids=["invoke", "ainvoke"])
def test_commands_and_injected_arguments_are_as_in_langgraphs_node(sync: bool) -> None:
    @tool
    def jump(where: str, tool_call_id: Annotated[str, InjectedToolCallId]) -> Command[Any]:
        """Returns a Command."""
        answer = ToolMessage(f"to {where}", tool_call_id=tool_call_id)
        return Command(update={"messages": [answer], "where": where}, goto=where)

    @tool
    def seen(
        key: str,
        state: Annotated[dict[str, Any], InjectedState],
        user: Annotated[str, InjectedState("user")],
        store: Annotated[BaseStore, InjectedStore()],
    ) -> str:
        """Reads the state and the store."""
        item = store.get(("prefs",), key)
        return f"{len(state['messages'])} {user} {item.value if item else None}"

    @tool
    def whoami(n: int, runtime: ToolRuntime) -> str:
        """Reads its runtime."""
        return f"{n} {runtime.tool_call_id} {runtime.state['user']}"

    for made in (jump, seen, whoami):
        declare(made, writes=["everything"])  # all in model order
    calls = [
        call("seen", {"key": "color"}, "i1"),
        call("jump", {"where": "a"}, "j1"),
        call("whoami", {"n": 3}, "w1"),
        call("jump", {"where": "b"}, "j2"),
    ]
    store = InMemoryStore()
    store.put(("prefs",), "color", {"v": "green"})
    payload = {"messages": [HumanMessage("go"), message(calls)], "user": "ana"}
    ours, theirs = (
        outcome(n([jump, seen, whoami]), payload, sync=sync, cfg=config(store)) for n in NODES
    )
    assert ours == theirs
    assert ours[0] == "out"
    assert len(ours[1]) == 4  # two Commands, two plain answers
    assert "2 ana {'v': 'green'}" in str(ours[1])
    assert "3 w1 ana" in str(ours[1])


# --- inside create_react_agent ----------------------------------------------------------------


class FakeToolModel(GenericFakeChatModel):
    def bind_tools(self, tools: Any, **kwargs: Any) -> Any:
        return self


def agent_model() -> FakeToolModel:
    replies = iter([AIMessage("", tool_calls=CREATE_THEN_UPDATE), AIMessage("all done")])
    return FakeToolModel(messages=replies)


@pytest.mark.parametrize("version", ["v1", "v2"])
@pytest.mark.parametrize("sync", [True, False], ids=["invoke", "ainvoke"])
def test_create_react_agent_runs_a_create_then_update_turn_in_order(
    version: str, sync: bool
) -> None:
    for node_type, row in [(ToolNode, "done"), (LangGraphToolNode, "draft")]:
        records = Records()
        node = node_type(record_tools(records, sync=sync))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # create_react_agent is deprecated, still widely used
            agent = create_react_agent(agent_model(), node, version=version)
        payload = {"messages": [HumanMessage("make record 7, then mark it done")]}
        out = agent.invoke(payload) if sync else asyncio.run(agent.ainvoke(payload))
        assert records.rows == {"7": row}, (node_type, version)
        assert out["messages"][-1].content == "all done"
        answers = [m.content for m in out["messages"] if isinstance(m, ToolMessage)]
        assert answers[0] == "created 7"
    assert isinstance(node, LangGraphToolNode)


# --- declarations -----------------------------------------------------------------------------


def test_declare_checks_its_options_and_keeps_other_metadata() -> None:
    @tool
    def save(x: int) -> str:
        """Saves."""
        return "saved"

    save.metadata = {"owner": "me"}
    with pytest.raises(ConfigurationError, match="unknown volley options"):
        declare(save, write=["a"])  # type: ignore[call-arg]
    declare(save, reads=["a"])
    assert save.metadata == {"owner": "me", "volley": {"reads": ["a"]}}
    save.metadata["volley"] = {"wrties": ["a"]}
    with pytest.raises(ConfigurationError, match="wrties"):
        ToolNode([save])

    def plain(x: int) -> str:
        """A plain function."""
        return "plain"

    assert declare(plain, effects="read").name == "plain"


def test_mcp_annotations_in_metadata_schedule_as_volleys_mcp_client_does() -> None:
    def mcp_tool(name: str, metadata: dict[str, Any]) -> BaseTool:
        @tool(name)
        def remote(x: int) -> str:
            """An MCP tool."""
            return "r"

        remote.metadata = metadata
        return remote

    grouped = {
        "mcp": {"tool": {"annotations": {"read_only_hint": True}}, "server": {"name": "git"}}
    }
    assert options_of(mcp_tool("log", grouped)) == {"reads": ["mcp:git"], "idempotent": True}
    assert options_of(mcp_tool("push", {"mcp": {"server": {"name": "git"}}})) == {
        "writes": ["mcp:git"]
    }
    assert options_of(mcp_tool("get", {"readOnlyHint": True, "title": "Get"})) == {
        "reads": ["mcp:"],
        "idempotent": True,
    }
    assert options_of(mcp_tool("put", {"destructive_hint": True})) == {"writes": ["mcp:"]}
    corrected = {**grouped, "volley": {"writes": ["repo"]}}
    assert options_of(mcp_tool("log", corrected)) == {"writes": ["repo"], "idempotent": True}
    assert options_of(mcp_tool("local", {"owner": "me"})) is None


# --- hostile input ----------------------------------------------------------------------------


@pytest.mark.parametrize("sync", [True, False], ids=["invoke", "ainvoke"])
def test_broken_calls_are_answered_as_langgraph_answers_them(sync: bool) -> None:
    tools = record_tools(Records(), sync=sync)
    batches: list[Any] = [
        [call("nope", {"id": "7"}, "c0"), *CREATE_THEN_UPDATE],  # an unknown tool
        [CREATE_THEN_UPDATE[0], {**CREATE_THEN_UPDATE[1], "id": "c1"}],  # a repeated id
        [{**CREATE_THEN_UPDATE[0], "args": {}}, CREATE_THEN_UPDATE[1]],  # a missing argument
        [{**CREATE_THEN_UPDATE[0], "args": "garbage"}, CREATE_THEN_UPDATE[1]],
        [{**CREATE_THEN_UPDATE[0], "id": None}, {**CREATE_THEN_UPDATE[1], "id": None}],
        [],
    ]
    half_written = AIMessage(
        "",
        tool_calls=CREATE_THEN_UPDATE[1:],
        invalid_tool_calls=[
            {"name": "create_record", "args": '{"id": ', "id": "c1", "error": "bad JSON"}
        ],
    )
    for batch in batches:
        payloads: list[Any] = [batch] if batch else [{"messages": []}, {"messages": [half_written]}]
        if batch and all(isinstance(c["args"], dict) for c in batch):
            payloads.append({"messages": [message(batch)]})
        for payload in payloads:
            results = []
            for node_type in NODES:
                node = node_type(record_tools(Records(), sync=sync), handle_tool_errors=True)
                results.append(outcome(node, payload, sync=sync))
            ours, theirs = results
            assert ours[0] == theirs[0], batch
            if ours[0] == "raised":
                assert ours[1:] == theirs[1:]
            else:
                answers, their_answers = ours[1]["messages"], theirs[1]["messages"]
                same = ("tool_call_id", "status", "name")
                assert [[m[k] for k in same] for m in answers] == [
                    [m[k] for k in same] for m in their_answers
                ]
                assert len(answers) == len(batch or [1])
    assert tools


def within(seconds: float, work: Callable[[], Any]) -> Any:
    """Run `work` in a thread; a hang fails the test instead of stalling the suite."""
    box: list[Any] = []

    def target() -> None:
        try:
            box.append(("ok", work()))
        except BaseException as exc:
            box.append(("raised", exc))

    worker = threading.Thread(target=target, daemon=True)
    worker.start()
    worker.join(seconds)
    assert box, f"still running after {seconds} s"
    if box[0][0] == "raised":
        raise box[0][1]
    return box[0][1]


def test_a_cancelled_agent_run_leaves_nothing_held_and_the_next_run_is_ordered() -> None:
    records = Records()
    node = ToolNode(record_tools(records, sync=False))

    def agent() -> Any:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return create_react_agent(agent_model(), node)  # v2: one Send per call

    payload = {"messages": [HumanMessage("go")]}

    async def main() -> Any:
        task = asyncio.create_task(agent().ainvoke(payload))
        while ("start", "create") not in records.log:
            await asyncio.sleep(0.001)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert len(node._shared_plans) == 0
        assert ("start", "update") not in records.log
        return await agent().ainvoke(payload)

    out = within(10, lambda: asyncio.run(main()))
    assert out["messages"][-1].content == "all done"
    assert records.rows == {"7": "done"}


@pytest.mark.parametrize("sync", [True, False], ids=["invoke", "ainvoke"])
def test_a_sent_call_whose_earlier_call_never_comes_still_runs(
    sync: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(volley_langgraph, "ARRIVAL_GRACE", 0.05)
    records = Records()
    records.rows["7"] = "draft"
    node = ToolNode(record_tools(records, sync=sync))
    sent = ToolCallWithContext(
        __type="tool_call_with_context",
        tool_call=CREATE_THEN_UPDATE[1],  # only the update is sent; the create never comes
        state={"messages": [message(CREATE_THEN_UPDATE)]},
    )
    out = within(10, lambda: run(node, sent, sync=sync))
    assert [m.content for m in out["messages"]] == ["updated 7"]
    assert len(node._shared_plans) == 0
    monkeypatch.setattr(volley_langgraph, "ARRIVAL_GRACE", 0.01)  # less than the create takes
    sent = {**sent, "tool_call": CREATE_THEN_UPDATE[0]}  # only the create; the update never comes
    out = within(10, lambda: run(node, sent, sync=sync))
    assert [m.content for m in out["messages"]] == ["created 7"]
    assert len(node._shared_plans) == 0  # the plan ended: nothing waits for the update


@pytest.fixture(autouse=True)
def _no_leftover_threads() -> Iterator[None]:
    before = threading.active_count()
    yield
    deadline = time.monotonic() + 2
    while threading.active_count() > before + 1 and time.monotonic() < deadline:
        time.sleep(0.01)


# --- volley's own work per call ---------------------------------------------------------------


def lines_run(work: Callable[[], Any]) -> int:
    """How many lines of volley's integration code `work` runs (this thread only)."""
    folder = volley_langgraph.__file__.rsplit("/", 1)[0]
    count = 0

    def local(frame: Any, event: str, arg: Any) -> Any:
        nonlocal count
        count += event == "line"
        return local

    def scope(frame: Any, event: str, arg: Any) -> Any:
        return local if frame.f_code.co_filename.startswith(folder) else None

    before = sys.gettrace()
    sys.settrace(scope)
    try:
        work()
    finally:
        sys.settrace(before)
    return count


def reads(n: int) -> tuple[list[BaseTool], AIMessage]:
    @tool
    async def look(id: str) -> str:
        """Read a record."""
        return "ok"

    declare(look, reads=lambda args: [f"record:{args['id']}"])
    calls = [call("look", {"id": "1"}, f"c{i}") for i in range(n)]
    return [look], message(calls)


@pytest.mark.parametrize("sent", [False, True], ids=["message", "one Send per call"])
def test_volleys_work_per_call_does_not_grow_with_the_message(sent: bool) -> None:
    def per_call(n: int) -> float:
        tools, ai = reads(n)
        node = ToolNode(tools)
        state = {"messages": [ai]}

        async def main() -> None:
            if not sent:
                await node.ainvoke(state, config())
                return
            payloads = [
                ToolCallWithContext(__type="tool_call_with_context", tool_call=c, state=state)
                for c in ai.tool_calls
            ]
            await asyncio.gather(*(node.ainvoke(p, config()) for p in payloads))

        return lines_run(lambda: asyncio.run(main())) / n

    small, large = per_call(10), per_call(160)
    assert large < 1.5 * small, (small, large)  # O(1) a call, not a scan of the message


def test_the_installed_versions_are_in_the_extras_range() -> None:
    # The node overrides private methods of LangGraph's ToolNode: only the range tested (`make
    # test-range` runs its ends) is known to work.
    import tomllib
    from importlib.metadata import version
    from pathlib import Path as _Path

    from packaging.requirements import Requirement

    pyproject = tomllib.loads((_Path(__file__).parents[1] / "pyproject.toml").read_text())
    for line in pyproject["project"]["optional-dependencies"]["langgraph"]:
        required = Requirement(line)
        installed = version(required.name)
        assert required.specifier.contains(installed), f"{required.name} {installed}: {line}"


@pytest.mark.parametrize("option", [{"timeout": 1.0}, {"retries": 2}])
def test_options_langgraph_runs_itself_are_refused_not_ignored(option: dict[str, Any]) -> None:
    @tool
    def fetch(n: int) -> str:
        """Fetch a page."""
        return "ok"

    with pytest.raises(ConfigurationError, match="is not applied here"):
        declare(fetch, **option)
    fetch.metadata = {"volley": option}  # written by hand: refused when the node is built
    with pytest.raises(ConfigurationError, match="is not applied here"):
        ToolNode([fetch])
    declare(fetch, retries=0, timeout=None, max_concurrency=None)  # the defaults are fine


@pytest.mark.parametrize("sync", [True, False], ids=["invoke", "ainvoke"])
@pytest.mark.parametrize("sent", [False, True], ids=["message", "one Send per call"])
def test_max_concurrency_limits_a_tools_calls_running_at_once(sync: bool, sent: bool) -> None:
    records = Records()

    def body(n: int) -> str:
        records.enter("fetch")
        time.sleep(0.02)
        records.leave("fetch")
        return "ok"

    async def abody(n: int) -> str:
        records.enter("fetch")
        await asyncio.sleep(0.02)
        records.leave("fetch")
        return "ok"

    made = tool("fetch", description="Fetch a page.")(body if sync else abody)
    node = ToolNode([declare(made, max_concurrency=2)])
    ai = message([call("fetch", {"n": n}, f"c{n}") for n in range(6)])

    def go() -> list[str]:
        if not sent:
            return [m.content for m in run(node, {"messages": [ai]}, sync=sync)["messages"]]
        payloads = [
            ToolCallWithContext(
                __type="tool_call_with_context", tool_call=c, state={"messages": [ai]}
            )
            for c in ai.tool_calls
        ]

        async def every() -> list[Any]:
            return await asyncio.gather(*(node.ainvoke(p, config()) for p in payloads))

        return [out["messages"][0].content for out in asyncio.run(every())]

    assert within(10, go) == ["ok"] * 6
    assert records.most == 2
