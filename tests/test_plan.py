"""Plan mode: a model's `run_plan` runs as one batch of steps, and bad plans are answered."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from _vtime import vrun

from volley import Agent, CallFinished, CallStarted, ModelTurn, ToolCall, ToolReturns, tool
from volley.providers import FunctionProvider, ModelRequest

log: list[tuple[str, str, float]] = []


@tool(effects="read")
async def search(query: str) -> dict[str, Any]:
    """Search the web."""
    log.append(("start", f"search {query}", asyncio.get_running_loop().time()))
    await asyncio.sleep(1)
    return {"results": [{"url": f"https://{query}/{i}"} for i in range(3)]}


@tool(effects="read")
async def fetch(url: str) -> str:
    """Fetch a page."""
    log.append(("start", f"fetch {url}", asyncio.get_running_loop().time()))
    await asyncio.sleep(1)
    return f"page at {url}"


@tool(effects="read")
async def summarize(pages: list[str]) -> str:
    """Summarize pages."""
    await asyncio.sleep(1)
    return f"{len(pages)} pages: " + " | ".join(pages)


@tool(writes=lambda a: [f"note:{a['key']}"])
async def write_note(key: str, text: str) -> str:
    """Store a note."""
    log.append(("write", f"{key}={text}", asyncio.get_running_loop().time()))
    return "ok"


TOOLS = [search, fetch, summarize, write_note]

CHAIN = [
    {"id": "s", "tool": "search", "arguments": {"query": "volley"}},
    *(
        {
            "id": f"f{i}",
            "tool": "fetch",
            "arguments": {"url": {"$ref": "s", "pointer": f"/results/{i}/url"}},
        }
        for i in range(3)
    ),
    {
        "id": "sum",
        "tool": "summarize",
        "arguments": {"pages": [{"$ref": "f0"}, {"$ref": "f1"}, {"$ref": "f2"}]},
    },
]


def planner(*turns: list[ToolCall]) -> FunctionProvider:
    """A model that sends `turns` one per request, then answers with the last results."""

    def respond(request: ModelRequest) -> ModelTurn:
        done = sum(isinstance(m, ToolReturns) for m in request.messages)
        if done < len(turns):
            return ModelTurn(calls=tuple(turns[done]), stop="tool_calls")
        last = request.messages[-1]
        assert isinstance(last, ToolReturns)
        return ModelTurn(text="\n".join(r.content for r in last.results))

    return FunctionProvider(respond)


def plan(call_id: str, steps: list[Any]) -> ToolCall:
    return ToolCall(call_id, "run_plan", json.dumps({"steps": steps}))


def run(model: FunctionProvider, **options: Any) -> Any:
    log.clear()
    events: list[Any] = []
    agent = Agent(model, TOOLS, plan=True, observers=[events.append], **options)
    result = vrun(lambda: agent.run("go"))
    return result, events


def test_a_chain_runs_in_one_turn_each_step_as_soon_as_its_references_are_ready() -> None:
    result, events = run(planner([plan("p", CHAIN)]))
    assert result.stats.round_trips == 2
    assert result.stats.turns[0].calls == 5
    answer = json.loads(result.output)
    assert answer["s"]["result"]["results"][0] == {"url": "https://volley/0"}
    assert answer["f2"] == {"result": "page at https://volley/2"}
    assert answer["sum"]["result"].startswith("3 pages: page at https://volley/0 |")
    # search, then the three fetches at once, then the summary: three seconds, not five.
    assert result.stats.turns[0].batch.wall_time == 3.0
    starts = {what: at for kind, what, at in log if kind == "start"}
    assert {starts[f"fetch https://volley/{i}"] for i in range(3)} == {1.0}
    started = [e.call for e in events if isinstance(e, CallStarted)]
    assert [c.id for c in started] == ["p/s", "p/f0", "p/f1", "p/f2", "p/sum"]
    assert started[4].depends_on == ("p/f0", "p/f1", "p/f2")  # the edges, on the calls
    finished = {e.result.call_id for e in events if isinstance(e, CallFinished)}
    assert finished == {c.id for c in started}


def test_the_model_sees_one_result_for_the_plan_and_its_request_offers_the_plan_tool() -> None:
    model = planner([plan("p", CHAIN[:2])])
    result, _ = run(model)
    returns = result.messages[2]
    assert isinstance(returns, ToolReturns)
    assert [r.call_id for r in returns.results] == ["p"]
    offered = {t.name: t for t in model.requests[0].tools}
    assert set(offered) == {"search", "fetch", "summarize", "write_note", "run_plan"}
    schema = offered["run_plan"].schema
    assert schema["properties"]["steps"]["items"]["properties"]["tool"]["enum"] == [
        "search",
        "fetch",
        "summarize",
        "write_note",
    ]
    assert len(offered["run_plan"].description) < 600
    without = FunctionProvider(lambda r: ModelTurn(text="hi"))
    vrun(lambda: Agent(without, TOOLS).run("go"))
    assert "run_plan" not in {t.name for t in without.requests[0].tools}


def test_agents_with_the_same_tool_names_share_one_plan_tool() -> None:
    # Its validator takes a millisecond to build: an agent made per request does not rebuild it.
    first, again = planner([plan("p", CHAIN[:2])]), planner([plan("p", CHAIN[:2])])
    run(first)
    run(again)
    (a,) = [t for t in first.requests[0].tools if t.name == "run_plan"]
    (b,) = [t for t in again.requests[0].tools if t.name == "run_plan"]
    assert a is b
    fewer = planner([plan("p", CHAIN[:1])])
    vrun(lambda: Agent(fewer, TOOLS[:2], plan=True).run("go"))
    (c,) = [t for t in fewer.requests[0].tools if t.name == "run_plan"]
    assert c.schema["properties"]["steps"]["items"]["properties"]["tool"]["enum"] == [
        t.name for t in TOOLS[:2]
    ]


def test_bad_steps_are_answered_and_only_their_dependants_fail() -> None:
    steps = [
        {"id": "ok", "tool": "fetch", "arguments": {"url": "u"}},
        {"id": "ghost", "tool": "serch", "arguments": {"query": "x"}},
        {"id": "after_ghost", "tool": "fetch", "arguments": {"url": {"$ref": "ghost"}}},
        {"id": "missing", "tool": "fetch", "arguments": {"url": {"$ref": "nope"}}},
        {"id": "bad_ptr", "tool": "fetch", "arguments": {"url": {"$ref": "ok", "pointer": "/x"}}},
        {"id": "a", "tool": "fetch", "arguments": {"url": {"$ref": "b"}}},
        {"id": "b", "tool": "fetch", "arguments": {"url": {"$ref": "a"}}},
        {"id": "ok", "tool": "fetch", "arguments": {"url": "again"}},
        {"id": "nested", "tool": "run_plan", "arguments": {"steps": []}},
        {"id": "untyped", "tool": "fetch", "arguments": {"url": ["x"]}},
        "not a step",
        {"id": "last", "tool": "fetch", "arguments": {"url": "v"}},
    ]
    result, _ = run(planner([plan("p", steps)]))
    answer = json.loads(result.output)
    assert answer["ok"] == {"result": "page at u"}
    assert answer["last"] == {"result": "page at v"}
    errors = {k: v["error"] for k, v in answer.items() if "error" in v}
    assert errors["ghost"].startswith("unknown_tool: Unknown tool 'serch'. Did you mean 'search'?")
    assert errors["after_ghost"].startswith("dependency_failed: Not run: it depends on call 'gh")
    assert "refers to 'nope', which is not a step of this plan" in errors["missing"]
    assert "'ok' does not resolve: the result is 'page at u'" in errors["bad_ptr"]
    assert "cycle (a -> b -> a)" in errors["a"] or "cycle (b -> a -> b)" in errors["a"]
    assert errors["#8"].startswith("duplicate_id: Not run: step #8 reuses the id 'ok'")
    assert "A plan cannot hold a plan" in errors["nested"]
    assert "invalid_arguments" in errors["untyped"]
    assert "Step #11 is not an object" in errors["#11"]
    assert "p/" not in result.output  # steps are named as the model named them
    timeline = [t.call_id.removeprefix("p/") for t in result.stats.turns[0].timeline]
    assert timeline == list(answer)  # every step in the plan's order, refused ones in place


def test_a_plan_that_is_not_one_is_an_error_the_model_can_act_on() -> None:
    for arguments in ('{"steps": []}', '{"step": 1}', "[1]", '{"steps": "s1"}', "{"):
        model = planner([ToolCall("p", "run_plan", arguments)])
        result, _ = run(model)
        returns = result.messages[2]
        assert isinstance(returns, ToolReturns)
        assert returns.results[0].is_error
        assert returns.results[0].error_kind == "invalid_arguments"
    too_many = [{"id": f"s{i}", "tool": "fetch", "arguments": {"url": "u"}} for i in range(101)]
    result, _ = run(planner([plan("p", too_many)]))
    assert "at most 100 steps" in result.output


def test_steps_and_direct_calls_share_one_batch_in_the_models_order() -> None:
    # A direct write, then a plan writing the same note, then a direct write again: as if one by
    # one in the model's order, so the note ends "3".
    calls = [
        ToolCall("w1", "write_note", {"key": "k", "text": "1"}),
        plan("p", [{"id": "w", "tool": "write_note", "arguments": {"key": "k", "text": "2"}}]),
        ToolCall("w3", "write_note", {"key": "k", "text": "3"}),
        ToolCall("r", "fetch", {"url": "u"}),
    ]
    result, _ = run(planner(calls))
    assert [what for kind, what, _ in log if kind == "write"] == ["k=1", "k=2", "k=3"]
    returns = result.messages[2]
    assert [r.call_id for r in returns.results] == ["w1", "p", "w3", "r"]
    assert result.stats.turns[0].calls == 4


@tool(writes=lambda a: [f"note:{a['key']}"], requires_approval=True)
async def publish(key: str) -> str:
    """Publish a note (a person approves it first)."""
    log.append(("write", f"publish {key}", asyncio.get_running_loop().time()))
    return "published"


def test_a_step_that_needs_approval_is_refused_and_a_plan_after_a_pending_call_waits() -> None:
    log.clear()
    model = planner(
        [
            plan("p0", [{"id": "x", "tool": "publish", "arguments": {"key": "k"}}]),
            ToolCall("direct", "publish", {"key": "k"}),
            plan("p1", [{"id": "w", "tool": "write_note", "arguments": {"key": "k", "text": "2"}}]),
        ]
    )
    agent = Agent(model, [*TOOLS, publish], plan=True, journal="memory")
    offered = agent._plans_of(agent.toolbox)
    assert offered is not None
    assert (
        "publish"
        not in offered.tool().schema["properties"]["steps"]["items"]["properties"]["tool"]["enum"]
    )

    async def main() -> Any:
        paused = await agent.run("go", run_id="r")
        assert paused.status == "paused"
        assert [c.id for c in paused.pending_approvals] == ["direct"]
        assert log == []  # the plan after the pending call waits with it
        return await agent.resume("r", approvals={"direct": True})

    result = asyncio.run(main())  # real time: the journal's writer is a thread
    returns = result.messages[2]
    assert [r.call_id for r in returns.results] == ["p0", "direct", "p1"]
    refused = json.loads(returns.results[0].content)["x"]["error"]
    assert refused.startswith("denied: Not run: publish waits for a person's approval")
    assert [what for _, what, _ in log] == ["publish k", "k=2"]


def test_hostile_plans_are_answered_and_run_nothing() -> None:
    deep = '{"steps": [{"id": "s", "tool": "fetch", "arguments": {"url": ' + "[" * 10_000
    hostile = [
        deep + "]" * 10_000 + "}}]}",
        '{"steps": [{"id": "s", "tool": "fetch", "arguments": {"url": NaN}}]}',
        '{"steps": [{"id": "s", "tool": "fetch", "arguments": {"url": "\\ud800"}}]}',
        '{"steps": [{"id": "s", "tool": "fetch", "arguments": {"url": "x"}}',
        json.dumps({"steps": [{"id": "s" * 1_000_000, "tool": "fetch", "arguments": {}}]}),
    ]
    for text in hostile:
        result, _ = run(planner([ToolCall("p", "run_plan", text)]))
        answer = result.messages[2].results[0]
        assert answer.is_error
        assert answer.error_kind in ("invalid_arguments",), answer.content[:200]
        assert log == []


def test_a_plan_result_stays_within_the_result_size_and_says_what_was_cut() -> None:
    @tool(effects="read")
    async def big(n: int) -> str:
        """A long page."""
        return "x" * n

    steps = [{"id": f"s{i}", "tool": "big", "arguments": {"n": 60_000}} for i in range(5)]
    model = planner([plan("p", steps)])
    result = vrun(lambda: Agent(model, [big], plan=True).run("go"))
    content = result.messages[2].results[0].content
    assert len(content) < 101_000
    report = json.loads(content)
    assert list(report) == [f"s{i}" for i in range(5)]
    assert all("[output cut: 60,000 characters in all" in v["result"] for v in report.values())


def test_a_plan_is_traced_as_its_steps_with_their_edges(tmp_path: Any) -> None:
    from volley.trace import Trace, TraceRecorder, html, load_trace

    path = tmp_path / "plan.jsonl"
    with TraceRecorder(path) as recorder:
        agent = Agent(planner([plan("p", CHAIN[:3])]), TOOLS, plan=True, observers=[recorder])
        result = vrun(lambda: agent.run("go"))
    loaded = load_trace(path)
    steps = loaded.turns[0].calls
    assert [(c.id, c.name, c.after) for c in steps] == [
        ("p/s", "search", ()),
        ("p/f0", "fetch", ("p/s",)),
        ("p/f1", "fetch", ("p/s",)),
    ]
    assert steps[1].content == "page at https://volley/0"
    from_result = Trace.from_result(result)
    assert [(c.id, c.after, c.is_error) for c in from_result.turns[0].calls] == [
        (c.id, c.after, c.is_error) for c in steps
    ]
    told = from_result.turns[0].calls[1]
    assert (told.started, told.ended, told.content) == (
        steps[1].started,
        steps[1].ended,
        steps[1].content,
    )
    assert "after p/s" in html(loaded)


def test_a_plan_is_expanded_once_per_turn_for_its_steps_and_its_result(monkeypatch: Any) -> None:
    """Its submission and its folded result use one expansion: the arguments are read once."""
    from volley._plan import Plans

    expanded: list[str] = []
    expand = Plans.expand

    def counting(self: Plans, call: ToolCall) -> Any:
        expanded.append(call.id)
        return expand(self, call)

    monkeypatch.setattr(Plans, "expand", counting)
    result, _ = run(planner([plan("p", CHAIN), plan("q", CHAIN[:2])]))
    first, second = map(json.loads, result.output.splitlines())
    assert first["sum"]["result"].startswith("3 pages")
    assert set(second) == {"s", "f0"}
    assert sorted(expanded) == ["p", "q"]
