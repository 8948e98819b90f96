"""9. Frameworks: a turn of calls in LangGraph, LangChain and Pydantic AI, with and without volley.

The turn is read, read, write, read, read of one record, each call taking D seconds (0.3 s; 0.05 s
with `--quick`). A read notes the record when it starts and when it ends; the write changes it
halfway through. The outcome is right when the two reads before the write saw the old value
throughout and the two after it saw the new one: the model's order. Ideal is three stages (3 D);
the framework alone runs all five at once (D, but the reads see a half-done write); one by one
takes 5 D.

- LangGraph: `volley.integrations.langgraph.ToolNode` against `langgraph.prebuilt.ToolNode`,
  the node called directly with an AI message holding the five calls;
- LangChain: `create_agent` with `VolleyMiddleware` against without, a scripted chat model;
- Pydantic AI: `VolleyToolset` against the plain toolset, a `FunctionModel`.

Then volley's cost per call inside each framework: N no-op calls (reads of one record, declared,
so volley checks them) in one message, with and without the integration. LangChain is also run
with a middleware that does nothing but pass each call on: `create_agent` traces every
`wrap_tool_call` middleware (two thread-pool hops a call, tracing on or off), a cost of the seam
that any middleware pays; volley's own part is the ratio to that run.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from langchain.agents import create_agent
from langchain.agents.middleware import AgentMiddleware
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.tools import BaseTool, StructuredTool
from langgraph.prebuilt import ToolNode as LangGraphToolNode
from langgraph.runtime import Runtime
from langgraph.store.memory import InMemoryStore
from pydantic_ai import Agent
from pydantic_ai import Tool as PydanticTool
from pydantic_ai.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
)
from pydantic_ai.models.function import AgentInfo, FunctionModel
from pydantic_ai.toolsets import FunctionToolset

from volley.integrations import langchain as volley_langchain
from volley.integrations import langgraph as volley_langgraph
from volley.integrations import pydantic_ai as volley_pydantic_ai

from ._harness import Goal, Report, compare, ms, stopwatch, times, us

LIMIT = 1.10
FRAMEWORKS = ("LangGraph", "LangChain", "Pydantic AI")
TURN = ("read", "read", "write", "read", "read")
OLD, NEW = "old", "new"
RIGHT = [f"{OLD}/{OLD}", f"{OLD}/{OLD}", "written", f"{NEW}/{NEW}", f"{NEW}/{NEW}"]
"""What the five calls answer, in order, when they ran in the model's order."""


@dataclass(frozen=True, slots=True)
class Sizes:
    delay: float
    rounds: int
    calls: int
    overhead_rounds: int


FULL = Sizes(delay=0.3, rounds=3, calls=50, overhead_rounds=15)
QUICK = Sizes(delay=0.05, rounds=1, calls=50, overhead_rounds=3)


def record_key(arguments: Any) -> list[str]:
    return [f"record:{arguments['id']}"]


class Store:
    """The record the turn reads and writes, and how long each call takes."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.value = OLD

    async def read_record(self, id: str) -> str:
        """Read a record."""
        first = self.value
        await asyncio.sleep(self.delay)
        return f"{first}/{self.value}"

    async def write_record(self, id: str, value: str) -> str:
        """Change a record."""
        await asyncio.sleep(self.delay / 2)
        self.value = value
        await asyncio.sleep(self.delay / 2)
        return "written"


async def noop(id: str) -> str:
    """Do nothing."""
    return "ok"


def turn_calls() -> list[tuple[str, dict[str, Any]]]:
    return [
        (f"{kind}_record", {"id": "1", "value": NEW} if kind == "write" else {"id": "1"})
        for kind in TURN
    ]


def noop_calls(n: int) -> list[tuple[str, dict[str, Any]]]:
    return [("noop", {"id": "1"}) for _ in range(n)]


Run = Callable[[], Awaitable[list[str]]]
"""Runs one turn through a framework; returns the tool results' texts in call order."""


# --- LangGraph: the node, called directly ---------------------------------------------------


def _lc_tools(store: Store, *, volley: bool, module: Any) -> list[BaseTool]:
    tools: list[BaseTool] = [
        StructuredTool.from_function(coroutine=store.read_record, name="read_record"),
        StructuredTool.from_function(coroutine=store.write_record, name="write_record"),
        StructuredTool.from_function(coroutine=noop, name="noop"),
    ]
    if not volley:
        return tools
    read, write, no = tools
    return [
        module.declare(read, reads=record_key),
        module.declare(write, writes=record_key),
        module.declare(no, reads=record_key),
    ]


def _lc_message(calls: Sequence[tuple[str, dict[str, Any]]]) -> AIMessage:
    return AIMessage(
        content="",
        tool_calls=[
            {"name": name, "args": args, "id": f"c{i}", "type": "tool_call"}
            for i, (name, args) in enumerate(calls)
        ],
    )


def _texts(messages: Sequence[Any]) -> list[str]:
    answers = {m.tool_call_id: str(m.content) for m in messages if isinstance(m, ToolMessage)}
    return [answers.get(f"c{i}", "missing") for i in range(len(answers))]


def langgraph(store: Store, calls: Sequence[tuple[str, dict[str, Any]]], *, volley: bool) -> Run:
    tools = _lc_tools(store, volley=volley, module=volley_langgraph)
    node = volley_langgraph.ToolNode(tools) if volley else LangGraphToolNode(tools)
    message = _lc_message(calls)
    config: Any = {"configurable": {"__pregel_runtime": Runtime(store=InMemoryStore())}}

    async def go() -> list[str]:
        out = await node.ainvoke({"messages": [message]}, config)
        return _texts(out["messages"])

    return go


# --- LangChain: create_agent with a scripted model ------------------------------------------


class Scripted(BaseChatModel):
    """Answers the human message with the scripted calls, and anything after tools with 'done'."""

    calls: list[dict[str, Any]]

    @property
    def _llm_type(self) -> str:
        return "scripted"

    def bind_tools(self, tools: Sequence[Any], **_: Any) -> Scripted:
        return self

    def _reply(self, messages: list[BaseMessage]) -> ChatResult:
        if any(isinstance(m, AIMessage) for m in messages):
            reply = AIMessage(content="done")
        else:
            reply = AIMessage(content="", tool_calls=self.calls)
        return ChatResult(generations=[ChatGeneration(message=reply)])

    def _generate(self, messages: list[BaseMessage], *_: Any, **__: Any) -> ChatResult:
        return self._reply(messages)

    async def _agenerate(self, messages: list[BaseMessage], *_: Any, **__: Any) -> ChatResult:
        return self._reply(messages)


class PassOn(AgentMiddleware):
    """A middleware that only passes each call on: what LangChain's seam costs by itself."""

    async def awrap_tool_call(self, request: Any, handler: Callable[[Any], Awaitable[Any]]) -> Any:
        return await handler(request)


def langchain(
    store: Store,
    calls: Sequence[tuple[str, dict[str, Any]]],
    *,
    volley: bool,
    pass_on: bool = False,
    learn: bool = False,
) -> Run:
    """A `create_agent` run; with `volley`, `VolleyMiddleware(tools)`.

    With `learn`, a middleware that learns the tools from the model's requests (a traced model
    hook more); with `pass_on`, a middleware that only passes each call on.
    """
    tools = _lc_tools(store, volley=volley or pass_on, module=volley_langchain)
    model = Scripted(calls=list(_lc_message(calls).tool_calls))  # type: ignore[arg-type]
    middleware: list[AgentMiddleware] = []
    if volley:
        given = None if learn else tools
        middleware.append(volley_langchain.VolleyMiddleware(given))
    elif pass_on:
        middleware.append(PassOn())
    graph = create_agent(model, tools=tools, middleware=middleware)

    async def go() -> list[str]:
        out = await graph.ainvoke({"messages": [HumanMessage("go")]})
        return _texts(out["messages"])

    return go


# --- Pydantic AI: an agent on a FunctionModel ----------------------------------------------


def pydantic_ai(store: Store, calls: Sequence[tuple[str, dict[str, Any]]], *, volley: bool) -> Run:
    read = PydanticTool(store.read_record, name="read_record")
    write = PydanticTool(store.write_record, name="write_record")
    no = PydanticTool(noop, name="noop")
    if volley:
        read = volley_pydantic_ai.declare(read, reads=record_key)
        write = volley_pydantic_ai.declare(write, writes=record_key)
        no = volley_pydantic_ai.declare(no, reads=record_key)
    plain = FunctionToolset([read, write, no])
    toolset = volley_pydantic_ai.VolleyToolset(plain) if volley else plain
    parts = [ToolCallPart(name, args, tool_call_id=f"c{i}") for i, (name, args) in enumerate(calls)]

    def respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        if len(messages) == 1:
            return ModelResponse(parts=list(parts))
        return ModelResponse(parts=[TextPart("done")])

    agent = Agent(FunctionModel(respond), toolsets=[toolset])

    async def go() -> list[str]:
        result = await agent.run("go")
        request = result.all_messages()[2]
        assert isinstance(request, ModelRequest)
        answers = {
            p.tool_call_id: str(p.content) for p in request.parts if isinstance(p, ToolReturnPart)
        }
        return [answers.get(f"c{i}", "missing") for i in range(len(calls))]

    return go


BUILDERS = {"LangGraph": langgraph, "LangChain": langchain, "Pydantic AI": pydantic_ai}
WITH, WITHOUT = "with volley", "without"
PASS_ON = "LangChain pass-on middleware"
LEARNED = "LangChain with volley, tools learned"


async def run(quick: bool = False) -> Report:
    sizes = QUICK if quick else FULL
    d = sizes.delay
    report = Report(
        key="frameworks",
        title=(
            f"9. Frameworks: read, read, write, read, read ({ms(d)} each) in one message, with "
            f"and without volley ({sizes.rounds} rounds; overhead {sizes.overhead_rounds}; "
            "interleaved)"
        ),
        columns=[
            "framework",
            "runner",
            "turn wall",
            "/ ideal 3 stages",
            "outcome",
            "per no-op call",
        ],
    )

    # The turn: every sample on a fresh store, its outcome kept.
    stores: dict[str, Store] = {}
    outcomes: dict[str, list[bool]] = {}
    variants: dict[str, Callable[[], Awaitable[float]]] = {}
    for framework in FRAMEWORKS:
        for volley in (True, False):
            name = f"{framework} {WITH if volley else WITHOUT}"
            store = stores[name] = Store(d)
            go = BUILDERS[framework](store, turn_calls(), volley=volley)
            outcomes[name] = []

            async def sample(store: Store = store, go: Run = go, name: str = name) -> float:
                store.value = OLD
                texts: list[str] = []

                async def work() -> None:
                    texts.extend(await go())

                seconds = await stopwatch(work)
                outcomes[name].append(texts == RIGHT)
                return seconds

            variants[name] = sample
    turn = await compare(variants, rounds=sizes.rounds, warmup=1)

    # The cost per call: N no-op calls in one message.
    n = sizes.calls
    noops: dict[str, Run] = {
        f"{framework} {WITH if volley else WITHOUT}": BUILDERS[framework](
            Store(0.0), noop_calls(n), volley=volley
        )
        for framework in FRAMEWORKS
        for volley in (True, False)
    }
    noops[PASS_ON] = langchain(Store(0.0), noop_calls(n), volley=False, pass_on=True)
    noops[LEARNED] = langchain(Store(0.0), noop_calls(n), volley=True, learn=True)
    noop_ok: dict[str, list[bool]] = {name: [] for name in noops}

    async def noop_sample(name: str) -> float:
        texts: list[str] = []

        async def work() -> None:
            texts.extend(await noops[name]())

        seconds = await stopwatch(work)
        noop_ok[name].append(texts == ["ok"] * n)
        return seconds

    cost = await compare(
        {name: partial(noop_sample, name) for name in noops},
        rounds=sizes.overhead_rounds,
        warmup=1,
    )

    for framework in FRAMEWORKS:
        with_, without = f"{framework} {WITH}", f"{framework} {WITHOUT}"
        ratio = cost.ratio(with_, without)
        for name, label in ((with_, WITH), (without, WITHOUT)):
            wall = turn.median(name)
            right = all(outcomes[name])
            per_call = cost.median(name) / n
            report.rows.append(
                [
                    framework,
                    label,
                    ms(wall),
                    times(wall / (3 * d)),
                    "right" if right else "WRONG order",
                    us(per_call) + (f" ({times(ratio)})" if name == with_ else ""),
                ]
            )
            report.figures[f"{name} turn s"] = wall
            report.figures[f"{name} turn / ideal"] = wall / (3 * d)
            report.figures[f"{name} right"] = float(right)
            report.figures[f"{name} us_per_call"] = per_call * 1e6
        report.figures[f"{framework} overhead with / without"] = ratio
        if framework == "LangChain":
            # Any middleware costs LangChain's traced seam (`PASS_ON`): what volley adds is
            # measured against a middleware that only passes each call on.
            for name, label in ((PASS_ON, "pass-on middleware"), (LEARNED, "tools learned")):
                ratio_ = cost.ratio(name, without)
                per_call_ = us(cost.median(name) / n)
                report.rows.append([framework, label, "", "", "", f"{per_call_} ({times(ratio_)})"])
                report.figures[f"{name} us_per_call"] = cost.median(name) / n * 1e6
                report.figures[f"{name} / without"] = ratio_
            seam = cost.ratio(with_, PASS_ON)
            report.figures["LangChain overhead with / pass-on"] = seam
            report.goals.append(Goal("LangChain: per call with volley / pass-on", seam, LIMIT))
        else:
            report.goals.append(Goal(f"{framework}: per call with volley / without", ratio, LIMIT))
        report.check(f"{framework}: the turn ends right with volley", all(outcomes[with_]))
        # A time, so a goal (printed), not a check: a loaded machine stretches a quick run.
        report.goals.append(
            Goal(f"{framework}: turn with volley / ideal 3 stages (one by one: 5/3)",
                 turn.median(with_) / (3 * d), 4 / 3)
        )  # fmt: skip
    report.check(
        "every no-op call answered, in order", all(all(oks) and oks for oks in noop_ok.values())
    )
    report.notes += [
        f"ideal: 3 stages = {ms(3 * d)}; all at once {ms(d)} (the reads see a half-done write); "
        f"one by one {ms(5 * d)}",
        "outcome: the two reads before the write saw the old value throughout, the two after it "
        "the new one, and results came in call order",
        f"per no-op call: {n} declared reads of one record in one message, the whole framework "
        "run (LangChain and Pydantic AI: two model steps) over the calls; ratio: with / without",
        "LangChain pass-on middleware: a middleware that only calls its handler, the seam's own "
        "cost (LangChain traces each hook of a middleware: an async hook hops to a thread twice); "
        "volley's goal there is against it; with volley: VolleyMiddleware(tools); tools learned: "
        "VolleyMiddleware(), one traced model hook more",
    ]
    return report
