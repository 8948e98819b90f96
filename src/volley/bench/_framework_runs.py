"""What the frameworks benchmark runs: one turn through each framework, over a record store.

Each builder makes a run with or without volley's integration (and, for LangChain, with an empty
middleware), so that `frameworks` can time them side by side.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
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

TURN = ("read", "read", "write", "read", "read")
OLD, NEW = "old", "new"


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
