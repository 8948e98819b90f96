"""volley inside LangChain's `create_agent`, through `VolleyMiddleware`, with a scripted model.

`create_agent` sends each call of a message to its tool node on its own, all at once; the
middleware must hold conflicting calls in the model's order and leave the rest (errors, unknown
tools, bad arguments, everything undeclared) exactly as `create_agent` does without it.
"""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from _hyp import examples
from hypothesis import given
from hypothesis import strategies as st
from langchain.agents import create_agent
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.tools import BaseTool, StructuredTool, ToolException, tool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.types import Command, interrupt

from volley import ConfigurationError
from volley.integrations.langchain import VolleyMiddleware, declare, options_of


class Scripted(BaseChatModel):
    """Answers a human message with the scripted calls, and anything after tools with 'done'."""

    turns: list[list[dict[str, Any]]]

    @property
    def _llm_type(self) -> str:
        return "scripted"

    def bind_tools(self, tools: Sequence[Any], **_: Any) -> Scripted:  # type: ignore[override]
        return self

    def _generate(self, messages: list[BaseMessage], *_: Any, **__: Any) -> ChatResult:
        done = sum(isinstance(m, AIMessage) for m in messages)
        if done < len(self.turns):
            reply = AIMessage(content="", tool_calls=self.turns[done])
        else:
            reply = AIMessage(content="done")
        return ChatResult(generations=[ChatGeneration(message=reply)])


def fn_tool(func: Any = None, **kw: Any) -> BaseTool:
    kw.setdefault("description", "a tool")
    return StructuredTool.from_function(func, **kw)


def call(cid: str, name: str, **args: Any) -> dict[str, Any]:
    return {"id": cid, "name": name, "args": args, "type": "tool_call"}


def agent(
    tools: list[BaseTool], *turns: list[dict[str, Any]], volley: Any = True, **kw: Any
) -> Any:
    """`volley`: True (the middleware learns the tools), "given" (it is given them), None
    (create_agent alone), or a middleware."""
    middleware = (
        [VolleyMiddleware()]
        if volley is True
        else [VolleyMiddleware(tools)]
        if volley == "given"
        else [volley]
        if volley
        else []
    )
    return create_agent(Scripted(turns=list(turns)), tools=tools, middleware=middleware, **kw)


MODES = pytest.mark.parametrize("mode", [True, "given"], ids=["learned", "given"])
"""The middleware learning the tools from the model's requests, and given them."""


def answers(result: dict[str, Any]) -> dict[str, tuple[str, str | None, Any]]:
    return {
        m.tool_call_id: (m.status, m.name, m.content)
        for m in result["messages"]
        if isinstance(m, ToolMessage)
    }


def ask(graph: Any, *, sync: bool, config: Any = None) -> dict[str, Any]:
    request = {"messages": [HumanMessage("go")]}
    if sync:
        return graph.invoke(request, config)  # type: ignore[no-any-return]
    return asyncio.run(graph.ainvoke(request, config))  # type: ignore[no-any-return]


class Records:
    """A record store whose create is slow and whose update needs the record: the classic race."""

    def __init__(self, *, sync: bool) -> None:
        self.rows: dict[str, str] = {}

        def create(id: str) -> str:
            time.sleep(0.05)
            self.rows[id] = "draft"
            return "created"

        def update(id: str, status: str) -> str:
            if id not in self.rows:
                return "no record"
            self.rows[id] = status
            return "updated"

        async def acreate(id: str) -> str:
            await asyncio.sleep(0.05)
            self.rows[id] = "draft"
            return "created"

        async def aupdate(id: str, status: str) -> str:
            return update(id, status)

        self.create: BaseTool = fn_tool(
            func=create, coroutine=acreate if not sync else None, name="create_record"
        )
        self.update: BaseTool = fn_tool(
            func=update, coroutine=aupdate if not sync else None, name="update_record"
        )

    def declared(self) -> list[BaseTool]:
        key = {"writes": lambda a: [f"record:{a['id']}"]}
        return [declare(self.create, **key), declare(self.update, **key)]  # type: ignore[arg-type]


RACE = [
    call("c1", "create_record", id="r1"),
    call("c2", "update_record", id="r1", status="shipped"),
]


@MODES
@pytest.mark.parametrize("sync", [True, False], ids=["invoke", "ainvoke"])
def test_create_then_update_ends_right_through_volley_and_wrong_without(
    sync: bool, mode: Any
) -> None:
    blind = Records(sync=sync)
    result = ask(agent(blind.declared(), RACE, volley=None), sync=sync)
    assert blind.rows == {"r1": "draft"}  # the update ran first: the race create_agent has
    assert answers(result)["c2"][2] == "no record"

    ordered = Records(sync=sync)
    result = ask(agent(ordered.declared(), RACE, volley=mode), sync=sync)
    assert ordered.rows == {"r1": "shipped"}
    assert answers(result)["c2"][2] == "updated"


class Counter:
    """How many calls run at once, as the tools see it."""

    def __init__(self) -> None:
        self.now = self.peak = 0
        self.lock = threading.Lock()

    def __enter__(self) -> None:
        with self.lock:
            self.now += 1
            self.peak = max(self.peak, self.now)

    def __exit__(self, *_: object) -> None:
        with self.lock:
            self.now -= 1


@pytest.mark.parametrize("sync", [True, False], ids=["invoke", "ainvoke"])
def test_undeclared_slow_calls_overlap(sync: bool) -> None:
    counter = Counter()

    def slow(n: int) -> str:
        with counter:
            time.sleep(0.05)
        return str(n)

    async def aslow(n: int) -> str:
        with counter:
            await asyncio.sleep(0.05)
        return str(n)

    tools = [fn_tool(slow, coroutine=None if sync else aslow, name="slow")]
    calls = [call(f"c{i}", "slow", n=i) for i in range(4)]
    result = ask(agent(tools, calls), sync=sync)
    assert counter.peak > 1
    assert {k: v[2] for k, v in answers(result).items()} == {f"c{i}": str(i) for i in range(4)}


def notes_tools(log: list[tuple[str, str]], notes: dict[str, str]) -> list[BaseTool]:
    lock = threading.Lock()

    @tool
    async def write(key: str, value: str) -> str:
        """Write a note."""
        with lock:
            log.append(("start", f"write:{key}:{value}"))
        await asyncio.sleep(0.05)  # long enough that a read started beside it reads before it
        notes[key] = value
        with lock:
            log.append(("end", f"write:{key}:{value}"))
        return "ok"

    @tool
    async def read(key: str) -> str:
        """Read a note."""
        with lock:
            log.append(("start", f"read:{key}"))
        value = notes.get(key, "")  # read as it starts: run beside a write, it reads before it
        await asyncio.sleep(0.001)
        with lock:
            log.append(("end", f"read:{key}"))
        return value

    return [
        declare(write, writes=lambda a: [a["key"]]),
        declare(read, reads=lambda a: [a["key"]]),
    ]


def test_a_read_after_a_write_of_the_same_key_sees_it() -> None:
    log: list[tuple[str, str]] = []
    calls = [call("w", "write", key="a", value="new"), call("r", "read", key="a")]
    result = ask(agent(notes_tools(log, {"a": "old"}), calls), sync=False)
    assert answers(result)["r"][2] == "new"
    blind = ask(agent(notes_tools([], {"a": "old"}), calls, volley=None), sync=False)
    assert answers(blind)["r"][2] == "old"


def broken_tools() -> list[BaseTool]:
    def fails(id: str) -> str:
        raise ToolException(f"cannot touch {id}")

    def raises(id: str) -> str:
        raise ValueError(f"bug with {id}")

    def store(id: str, value: int) -> str:
        return f"{id}={value}"

    key = {"writes": lambda a: [f"record:{a['id']}"]}
    return [
        declare(fn_tool(fails, handle_tool_error=True), **key),  # type: ignore[arg-type]
        declare(fn_tool(raises), **key),  # type: ignore[arg-type]
        declare(fn_tool(store), **key),  # type: ignore[arg-type]
    ]


HOSTILE = [
    call("a", "fails", id="r"),
    call("b", "no_such_tool", id="r"),
    call("c", "store", id="r", value="not a number"),
    call("d", "store", value=1),  # no id: its key cannot be known, it holds everything
    call("e", "store", id="r", value=2),
]


@MODES
@pytest.mark.parametrize("sync", [True, False], ids=["invoke", "ainvoke"])
def test_errors_unknown_tools_and_bad_arguments_are_answered_as_create_agent_does(
    sync: bool, mode: Any
) -> None:
    own = answers(ask(agent(broken_tools(), HOSTILE, volley=None), sync=sync))
    through = answers(ask(agent(broken_tools(), HOSTILE, volley=mode), sync=sync))
    assert through == own
    assert own["e"] == ("success", "store", "r=2")
    assert own["b"][0] == own["c"][0] == own["d"][0] == "error"

    raising = [call("x", "raises", id="r"), call("y", "store", id="r", value=1)]
    for volley in (None, mode):
        with pytest.raises(ValueError, match="bug with r"):
            ask(agent(broken_tools(), raising, volley=volley), sync=sync)


def test_malformed_and_repeated_calls_behave_as_without_volley() -> None:
    class Broken(Scripted):
        def _generate(self, messages: list[BaseMessage], *_: Any, **__: Any) -> ChatResult:
            if sum(isinstance(m, AIMessage) for m in messages):
                return ChatResult(generations=[ChatGeneration(message=AIMessage("done"))])
            reply = AIMessage(
                content="",
                tool_calls=[
                    call("d", "store", id="r", value=1),
                    call("d", "store", id="r", value=2),
                ],
                invalid_tool_calls=[
                    {
                        "id": "bad",
                        "name": "store",
                        "args": '{"id": ',
                        "error": "cut",
                        "type": "invalid_tool_call",
                    }
                ],
            )
            return ChatResult(generations=[ChatGeneration(message=reply)])

    def run(middleware: list[Any]) -> list[tuple[str, str, Any]]:
        graph = create_agent(Broken(turns=[]), tools=broken_tools(), middleware=middleware)
        result = graph.invoke({"messages": [HumanMessage("go")]})
        return sorted(
            (m.tool_call_id, m.status, m.content)
            for m in result["messages"]
            if isinstance(m, ToolMessage)
        )

    volley = VolleyMiddleware()
    assert run([volley]) == run([])
    assert volley.open_gates == 0


def test_a_run_cancelled_while_calls_wait_releases_them_and_leaves_no_gate() -> None:
    started = asyncio.Event

    async def main() -> None:
        gate = started()
        records = Records(sync=False)

        async def first(id: str) -> str:
            gate.set()
            await asyncio.sleep(10)
            return "never"

        slow = declare(
            fn_tool(coroutine=first, name="create_record"),
            writes=lambda a: [f"record:{a['id']}"],
        )
        middleware = VolleyMiddleware()
        graph = agent([slow, records.declared()[1]], RACE, volley=middleware)
        run = asyncio.create_task(graph.ainvoke({"messages": [HumanMessage("go")]}))
        await asyncio.wait_for(gate.wait(), 5)
        run.cancel()
        with pytest.raises(asyncio.CancelledError):
            await run
        assert middleware.open_gates == 0
        assert records.rows == {}  # the update held behind the create never ran

        again = Records(sync=False)
        result = await agent(again.declared(), RACE, volley=middleware).ainvoke(
            {"messages": [HumanMessage("go")]}
        )
        assert answers(result)["c2"][2] == "updated"

    asyncio.run(main())


def test_gates_of_finished_messages_are_dropped_over_a_long_run() -> None:
    log: list[tuple[str, str]] = []
    middleware = VolleyMiddleware()
    turns = [
        [call(f"t{t}w", "write", key="a", value=str(t)), call(f"t{t}r", "read", key="a")]
        for t in range(30)
    ]
    graph = agent(notes_tools(log, {}), *turns, volley=middleware)
    result = ask(graph, sync=False)
    assert middleware.open_gates == 0
    assert len(middleware._gates._open) == 0
    assert all(answers(result)[f"t{t}r"][2] == str(t) for t in range(30))
    ask(graph, sync=False)  # the same ids again, in a new run
    assert middleware.open_gates == 0


def test_one_worker_does_not_deadlock() -> None:
    records = Records(sync=True)
    graph = agent(records.declared(), [*reversed(RACE), call("c3", "create_record", id="r2")])
    ask(graph, sync=True, config={"max_concurrency": 1})
    assert records.rows == {"r1": "draft", "r2": "draft"}  # the model's order: update, create


def test_an_interrupted_call_resumes_without_waiting_for_calls_that_already_ran() -> None:
    rows: dict[str, str] = {}

    def put(id: str, value: str) -> str:
        rows[id] = value
        return "ok"

    def confirm(id: str) -> str:
        answer = interrupt(f"confirm {id}?")
        rows[id] = f"confirmed {answer}"
        return "ok"

    key = {"writes": lambda a: [f"record:{a['id']}"]}
    tools = [
        declare(fn_tool(put), **key),  # type: ignore[arg-type]
        declare(fn_tool(confirm), **key),  # type: ignore[arg-type]
    ]
    calls = [call("p", "put", id="r", value="x"), call("q", "confirm", id="r")]
    middleware = VolleyMiddleware()
    graph = agent(tools, calls, volley=middleware, checkpointer=InMemorySaver())
    config = {"configurable": {"thread_id": "1"}}
    first = graph.invoke({"messages": [HumanMessage("go")]}, config)
    assert "__interrupt__" in first
    assert rows == {"r": "x"}
    resumed = threading.Thread(target=graph.invoke, args=(Command(resume="yes"), config))
    resumed.daemon = True  # if it hangs, the test fails rather than the suite
    resumed.start()
    resumed.join(10)
    assert not resumed.is_alive(), "the resumed call waits for a call that already ran"
    assert rows == {"r": "confirmed yes"}
    assert middleware.open_gates == 0


def test_declare_keeps_other_metadata_and_refuses_unknown_options() -> None:
    @tool
    def lookup(q: str) -> str:
        """Look something up."""
        return q

    lookup.metadata = {"owner": "me"}
    assert declare(lookup, effects="read") is lookup
    assert lookup.metadata == {"owner": "me", "volley": {"effects": "read"}}
    assert options_of(lookup) == {"effects": "read"}
    with pytest.raises(ConfigurationError, match="wrties"):
        declare(lookup, wrties=["x"])  # type: ignore[call-arg]


def test_mcp_annotations_from_langchain_mcp_become_keys_of_their_server() -> None:
    def make(annotations: dict[str, Any] | None, **extra: Any) -> BaseTool:
        meta: dict[str, Any] = {"server": {"name": "git", "version": "1"}}
        if annotations is not None:
            meta["tool"] = {"annotations": annotations}
        return fn_tool(lambda q: q, name="t", description="d", metadata={"mcp": meta, **extra})

    assert options_of(make({"read_only_hint": True})) == {"reads": ["mcp:git"], "idempotent": True}
    assert options_of(make({"destructive_hint": False})) == {"writes": ["mcp:git"]}
    assert options_of(make(None)) == {"writes": ["mcp:git"]}  # the spec's default: it may write
    corrected = make({"read_only_hint": True}, volley={"writes": ["repo"]})
    assert options_of(corrected) == {"writes": ["repo"], "idempotent": True}


KINDS = st.lists(
    st.tuples(st.sampled_from(["read", "write"]), st.sampled_from(["a", "b", "c"])),
    min_size=1,
    max_size=8,
)


@examples(100)
@given(batch=KINDS, mode=st.sampled_from([True, "given"]))
def test_random_batches_equal_one_by_one_and_no_write_overlaps_a_conflict(
    batch: list[tuple[str, str]], mode: Any
) -> None:
    calls = [
        call(f"c{i}", kind, key=key, **({"value": f"v{i}"} if kind == "write" else {}))
        for i, (kind, key) in enumerate(batch)
    ]
    log: list[tuple[str, str]] = []
    result = ask(agent(notes_tools(log, {}), calls, volley=mode), sync=False)

    notes: dict[str, str] = {}
    expected: dict[str, str] = {}
    for i, (kind, key) in enumerate(batch):  # one by one, in the model's order
        if kind == "write":
            notes[key] = f"v{i}"
            expected[f"c{i}"] = "ok"
        else:
            expected[f"c{i}"] = notes.get(key, "")
    assert {k: v[2] for k, v in answers(result).items()} == expected

    running: list[str] = []
    for event, what in log:
        if event == "end":
            running.remove(what)
            continue
        kind, key = what.split(":")[:2]
        for other in running:
            other_kind, other_key = other.split(":")[:2]
            assert not (other_key == key and "write" in (kind, other_kind)), (what, other)
        running.append(what)


def test_calls_another_middleware_answers_do_not_hold_later_calls() -> None:
    from langchain.agents.middleware import ToolCallLimitMiddleware

    log: list[tuple[str, str]] = []
    calls = [
        call("w1", "write", key="a", value="1"),
        call("w2", "write", key="a", value="2"),  # over the limit: answered, never sent
        call("r", "read", key="a"),  # would wait for w2 forever if it counted
    ]
    limit = ToolCallLimitMiddleware(tool_name="write", run_limit=1, exit_behavior="continue")
    for volley in (VolleyMiddleware(), None):
        middleware = [m for m in (volley, limit) if m is not None]
        graph = create_agent(
            Scripted(turns=[calls]), tools=notes_tools(log, {}), middleware=middleware
        )
        result = ask(graph, sync=False)
        assert answers(result)["w2"][0] == "error"
        if volley is not None:  # without volley the read may run before the write
            assert answers(result)["r"][2] == "1"


def test_without_langchain_the_import_is_one_line_naming_the_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import importlib
    import sys

    from volley._errors import MissingExtra

    monkeypatch.setitem(sys.modules, "langchain.agents.middleware", None)
    monkeypatch.delitem(sys.modules, "volley.integrations.langchain")
    with pytest.raises(MissingExtra, match=r"volley-tools\[langchain\]") as caught:
        importlib.import_module("volley.integrations.langchain")
    assert "\n" not in str(caught.value)


# --- volley's own work per call ---------------------------------------------------------------


def lines_run(work: Callable[[], Any]) -> int:
    """How many lines of volley's integration code `work` runs (this thread only)."""
    folder = VolleyMiddleware.__module__.replace(".", "/").rsplit("/", 1)[0]
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
    # Every call finds its message in the state: reading the message once per message, not
    # once per call, keeps a call O(1).
    async def look(id: str) -> str:
        return "ok"

    def per_call(n: int) -> float:
        reader = declare(fn_tool(coroutine=look, name="look"), reads=lambda a: [a["id"]])
        calls = [call(f"c{i}", "look", id="1") for i in range(n)]
        graph = agent([reader], calls)
        return lines_run(lambda: ask(graph, sync=False)) / n

    small, large = per_call(10), per_call(160)
    assert large < 1.5 * small, (small, large)


def test_the_installed_versions_are_in_the_extras_range() -> None:
    # Only the range tested (`make test-range` runs its lower end) is known to work.
    import tomllib
    from importlib.metadata import version
    from pathlib import Path as _Path

    from packaging.requirements import Requirement

    pyproject = tomllib.loads((_Path(__file__).parents[1] / "pyproject.toml").read_text())
    for line in pyproject["project"]["optional-dependencies"]["langchain"]:
        required = Requirement(line)
        installed = version(required.name)
        assert required.specifier.contains(installed), f"{required.name} {installed}: {line}"


@pytest.mark.parametrize("option", [{"timeout": 1.0}, {"retries": 2}])
def test_options_langchain_runs_itself_are_refused_not_ignored(option: dict[str, Any]) -> None:
    async def fetch(n: int) -> str:
        return "ok"

    with pytest.raises(ConfigurationError, match="is not applied here"):
        declare(fetch_tool := fn_tool(coroutine=fetch, name="fetch"), **option)
    declare(fetch_tool, retries=0, timeout=None, max_concurrency=None)  # the defaults are fine


@pytest.mark.parametrize("sync", [True, False], ids=["invoke", "ainvoke"])
def test_max_concurrency_limits_a_tools_calls_running_at_once(sync: bool) -> None:
    lock = threading.Lock()
    running = {"now": 0, "most": 0}

    def enter() -> None:
        with lock:
            running["now"] += 1
            running["most"] = max(running["most"], running["now"])

    def leave() -> None:
        with lock:
            running["now"] -= 1

    def fetch(n: int) -> str:
        enter()
        time.sleep(0.02)
        leave()
        return "ok"

    async def afetch(n: int) -> str:
        enter()
        await asyncio.sleep(0.02)
        leave()
        return "ok"

    tool_ = fn_tool(func=fetch, coroutine=None if sync else afetch, name="fetch")
    calls = [call(f"c{n}", "fetch", n=n) for n in range(6)]
    result = ask(agent([declare(tool_, max_concurrency=2)], calls), sync=sync)
    assert [a[2] for a in answers(result).values()] == ["ok"] * 6
    assert running["most"] == 2


def test_given_its_tools_the_middleware_leaves_out_the_model_hook() -> None:
    # LangChain traces every hook a middleware's class defines: the model hook is there only
    # to learn the tools, so a middleware given them has none, and is still a VolleyMiddleware.
    from langchain.agents.middleware import AgentMiddleware

    given, learning = VolleyMiddleware([]), VolleyMiddleware()
    assert isinstance(given, VolleyMiddleware)
    assert type(given).awrap_model_call is AgentMiddleware.awrap_model_call
    assert type(given).wrap_model_call is AgentMiddleware.wrap_model_call
    assert type(learning).awrap_model_call is not AgentMiddleware.awrap_model_call
    assert given.name == learning.name == "VolleyMiddleware"


def test_a_tool_missing_from_the_given_list_is_undeclared_until_its_first_call(
    caplog: pytest.LogCaptureFixture,
) -> None:
    log: list[tuple[str, str]] = []
    write, read = notes_tools(log, {})
    turn = [call("w", "write", key="a", value="1"), call("r", "read", key="a")]
    again = [call("w2", "write", key="a", value="2"), call("r2", "read", key="a")]
    graph = create_agent(
        Scripted(turns=[turn, again]),
        tools=[write, read],
        middleware=[VolleyMiddleware([write])],  # `read` left out
    )
    with caplog.at_level("WARNING", logger="volley.integrations.langchain"):
        result = ask(graph, sync=False)

    # First message: the read was not known, so it ran as undeclared, beside the write (it
    # started before the write ended, and read the old value); the log names it.
    starts = [what for event, what in log if event == "start"]
    first_read, first_write_end = log.index(("start", "read:a")), log.index(("end", "write:a:1"))
    assert first_read < first_write_end
    assert answers(result)["r"][2] == ""
    assert any("'read'" in r.getMessage() for r in caplog.records)
    # Second message: learned from its first call, the read waits for the write before it.
    assert answers(result)["r2"][2] == "2"
    assert starts.index("read:a", starts.index("read:a") + 1) > starts.index("write:a:2")


def test_the_given_tools_may_be_what_create_agent_takes(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # create_agent takes plain functions and providers' built-in tools (dicts) beside BaseTools:
    # the same list given to the middleware is understood, and no tool is reported missing.
    log: list[tuple[str, str]] = []
    write, read = notes_tools(log, {})

    def shout(text: str) -> str:
        """Say it louder."""
        return text.upper()

    tools: list[Any] = [write, read, shout]
    calls = [
        call("w", "write", key="a", value="1"),
        call("s", "shout", text="hi"),
        call("r", "read", key="a"),
    ]
    graph = create_agent(
        Scripted(turns=[calls]), tools=tools, middleware=[VolleyMiddleware([*tools, {"type": "x"}])]
    )
    with caplog.at_level("WARNING", logger="volley.integrations.langchain"):
        result = ask(graph, sync=False)
    assert {k: v[2] for k, v in answers(result).items()} == {"w": "ok", "s": "HI", "r": "1"}
    assert not caplog.records

    def undocumented(x: int) -> int:
        return x

    # What create_agent itself refuses (no docstring) is left for it to say so.
    assert isinstance(VolleyMiddleware([undocumented, lambda x: x]), VolleyMiddleware)


@pytest.mark.parametrize("wrong", ["one tool", "a string", "a dict"])
def test_one_tool_where_the_list_goes_is_refused(wrong: str) -> None:
    # A LangChain tool is a pydantic model, and iterable: taken as a list, it would silently
    # declare nothing.
    write, _ = notes_tools([], {})
    value: Any = {"one tool": write, "a string": "write", "a dict": {"write": write}}[wrong]
    with pytest.raises(ConfigurationError, match="the list of tools given to create_agent"):
        VolleyMiddleware(value)
