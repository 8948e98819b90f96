"""volley inside LangChain's `create_agent`: one middleware, and what a LangChain tool declares.

```python
from langchain.agents import create_agent
from volley.integrations.langchain import VolleyMiddleware, declare

declare(update_record, writes=lambda a: [f"record:{a['id']}"])
tools = [create_record, update_record]
agent = create_agent(model, tools=tools, middleware=[VolleyMiddleware(tools)])
```

`create_agent` sends each call of a model message to its tool node on its own (one `Send` per
call), all at once, so a create and an update of one record race. The middleware sees every call
(`wrap_tool_call`) together with the state, whose last AI message holds the whole batch in the
model's order: it holds each call until the earlier calls it conflicts with are done, and lets
everything else overlap as before. Errors, unknown tools and bad arguments are still answered by
`create_agent`'s own tool node, after the hold. Put it first in `middleware=[...]` (outermost), so
that every call a middleware answers without running it still passes through it.

This module is also the shared place for LangChain tools: `declare` and `options_of` read and write
the `"volley"` metadata of any `BaseTool` (and the MCP annotations `langchain.mcp` keeps), so other
integrations built on LangChain tools (`volley.integrations.langgraph`) import them from here.

Needs the `langchain` extra: `pip install 'volley-tools[langchain]'`.
"""

from __future__ import annotations

try:
    from langchain.agents.middleware import AgentMiddleware
    from langchain_core.messages import AIMessage, ToolMessage
    from langchain_core.tools import BaseTool
    from langchain_core.tools import tool as as_tool
except ImportError as exc:  # pragma: no cover - depends on what is installed
    from .._errors import MissingExtra

    raise MissingExtra("langchain is not installed: pip install 'volley-tools[langchain]'") from exc

import logging
import threading
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any

from .._access import NO_ACCESS, UNDECLARED, Access
from .._errors import ConfigurationError
from .._tool import Tool
from ._gate import CallLimit, GateRegistry, ListMemo, TurnGate, declared_tool
from ._lc_tools import NOT_APPLIED, declare, options_of

__all__ = ["VolleyMiddleware", "declare", "options_of"]

logger = logging.getLogger("volley.integrations.langchain")


_MAX_OPEN = 1024
"""Messages whose gates may stay open at once; older ones are let go (see `_Gates`)."""


class _Gates:
    """The gates of the messages being run, with what a re-run of a message still has to do.

    A step of the graph can end early (a tool raises, or calls `interrupt()`) and be run again
    later: the calls that ended then are not run again, so a new gate must not wait for them.
    Calls that ended by an exception are noted, and a message's next gate holds only those.
    The notes and open gates are bounded: a message that never finishes cannot grow them.
    """

    def __init__(self) -> None:
        self.registry = GateRegistry()
        self._lock = threading.Lock()
        self._open: OrderedDict[tuple[str, ...], TurnGate] = OrderedDict()
        self._rerun: OrderedDict[tuple[str, ...], set[str]] = OrderedDict()

    def gate(
        self, key: tuple[str, ...], calls: list[tuple[str, Any]], access: Callable[[Any], Access]
    ) -> TurnGate:
        def make() -> TurnGate:
            with self._lock:
                again = self._rerun.pop(key, None)
            made = TurnGate([(cid, access(c)) for cid, c in calls])
            for cid, _ in calls:
                if again is not None and cid not in again:
                    made.release(cid)  # it ended in the earlier run and is not run again
            return made

        gate = self.registry.gate(key, make)
        with self._lock:
            self._open[key] = gate
            self._open.move_to_end(key)
            while len(self._open) > _MAX_OPEN:
                old_key, old = self._open.popitem(last=False)
                for cid in old_key:  # a message abandoned long ago: let its calls go
                    old.release(cid)
        return gate

    def ended(self, key: tuple[str, ...], call_id: str, *, completed: bool) -> None:
        with self._lock:
            if completed:
                left = self._rerun.get(key)
                if left is not None:
                    left.discard(call_id)
            else:
                self._rerun.setdefault(key, set()).add(call_id)
                self._rerun.move_to_end(key)
                while len(self._rerun) > _MAX_OPEN:
                    self._rerun.popitem(last=False)
            gate = self._open.get(key)
            if gate is not None and gate.finished:
                del self._open[key]
        self.registry.forget_finished()


class _Turn:
    """An AI message's calls as a message list shows them: ids, those answered, those to run.

    `answered` are the calls with a `ToolMessage` after the message (answered by another
    middleware, or in an earlier run of the step): they are not sent again, so they are left
    out of the plan (`pending`).
    """

    __slots__ = ("answered", "ids", "key", "pending", "plannable")

    def __init__(self, message: AIMessage | None, answered: set[str]) -> None:
        calls = message.tool_calls if message is not None else []
        self.key = tuple(c.get("id") or "" for c in calls)
        self.ids = frozenset(self.key)
        self.answered = answered
        self.plannable = "" not in self.ids and len(self.ids) == len(self.key)
        self.pending = [(i, c) for i, c in zip(self.key, calls, strict=True) if i not in answered]

    @classmethod
    def last(cls, messages: Sequence[Any]) -> _Turn:
        """The last AI message's calls (none if the list has no AI message)."""
        answered: set[str] = set()
        for message in reversed(messages):
            if isinstance(message, ToolMessage):
                answered.add(message.tool_call_id)
            elif isinstance(message, AIMessage):
                return cls(message, answered)
        return cls(None, answered)

    @classmethod
    def find(cls, messages: Sequence[Any], call_id: str) -> _Turn | None:
        """The calls of the latest AI message holding `call_id` (`None`: no such message)."""
        answered: set[str] = set()
        for message in reversed(messages):
            if isinstance(message, ToolMessage):
                answered.add(message.tool_call_id)
            elif isinstance(message, AIMessage) and any(
                c.get("id") == call_id for c in message.tool_calls
            ):
                return cls(message, answered)
        return None


class VolleyMiddleware(AgentMiddleware):
    """Runs the calls of each model message in the model's order where they conflict.

    Args:
        tools: Every tool the model may call. Given them, the middleware has no model hook:
            LangChain traces each hook of a middleware (an async hook costs two hops to a
            thread per call), so leaving that hook out keeps volley's cost per tool call near
            that of an empty middleware. A call of a tool missing from the list is ordered as
            undeclared (and logged). Without them, the tools offered to the model are learned
            on each model call.
    """

    def __new__(cls, tools: Iterable[Any] | None = None) -> VolleyMiddleware:
        """Given its tools, the middleware is made without the model hook.

        LangChain reads which hooks a middleware has from its class, not from the instance.
        """
        if cls is VolleyMiddleware and tools is not None:
            cls = _GivenTools  # the same middleware, without the model hook
        return super().__new__(cls)

    def __init__(self, tools: Iterable[Any] | None = None) -> None:
        super().__init__()
        if isinstance(tools, BaseTool | Mapping | str):  # a tool is iterable (a pydantic model)
            raise ConfigurationError(
                "VolleyMiddleware(tools) takes the list of tools given to create_agent, "
                f"not one {type(tools).__name__}"
            )
        self._given = tools is not None
        self._tools: dict[str, BaseTool] = {}
        self._learn(tools or ())
        self._declared: dict[str, tuple[BaseTool, Tool[..., Any]]] = {}
        self._gates = _Gates()
        self._limits: dict[str, CallLimit] = {}
        self._lock = threading.Lock()
        self._turns = ListMemo(_Turn.last)

    @property
    def open_gates(self) -> int:
        """How many messages still have calls to run (0 between turns: nothing leaks)."""
        return len(self._gates.registry)

    # -- learning the tools the model was offered

    def _learn(self, tools: Iterable[Any]) -> None:
        """Note tools as `create_agent` takes them.

        A plain function is a tool that declares nothing (`create_agent` makes it one); a
        provider's built-in tool (a dict) never reaches the tool node.
        """
        for offered in tools:
            if isinstance(offered, BaseTool):
                self._tools[offered.name] = offered
            elif callable(offered) and isinstance(name := getattr(offered, "__name__", None), str):
                try:
                    self._tools[name] = as_tool(offered)
                except Exception:  # no docstring, say: create_agent refuses it in its own words
                    continue

    def wrap_model_call(self, request: Any, handler: Callable[[Any], Any]) -> Any:
        """Note the tools offered to the model, so that a whole batch can be planned."""
        self._learn(request.tools)
        return handler(request)

    async def awrap_model_call(self, request: Any, handler: Callable[[Any], Awaitable[Any]]) -> Any:
        """Note the tools offered to the model, so that a whole batch can be planned."""
        self._learn(request.tools)
        return await handler(request)

    # -- holding each call

    def wrap_tool_call(self, request: Any, handler: Callable[[Any], Any]) -> Any:
        """Run the call once the earlier calls of its message it conflicts with are done."""
        found = self._gate_of(request)
        if found is None:
            return self._limited(request, handler)
        key, gate, call_id = found
        completed = False
        try:
            gate.wait_sync(call_id)  # released if the wait fails
            try:
                result = self._limited(request, handler)
            finally:
                gate.release(call_id)
            completed = True
            return result
        finally:
            self._gates.ended(key, call_id, completed=completed)

    async def awrap_tool_call(self, request: Any, handler: Callable[[Any], Awaitable[Any]]) -> Any:
        """Run the call once the earlier calls of its message it conflicts with are done."""
        found = self._gate_of(request)
        if found is None:
            return await self._alimited(request, handler)
        key, gate, call_id = found
        completed = False
        try:
            await gate.wait(call_id)  # released if the wait fails
            try:
                result = await self._alimited(request, handler)
            finally:
                gate.release(call_id)
            completed = True
            return result
        finally:
            self._gates.ended(key, call_id, completed=completed)

    def _limited(self, request: Any, handler: Callable[[Any], Any]) -> Any:
        """The handler's run of the call, within its tool's `max_concurrency` (after its turn)."""
        limit = self._limit_of(request)
        if limit is None:
            return handler(request)
        limit.acquire_sync()
        try:
            return handler(request)
        finally:
            limit.release()

    async def _alimited(self, request: Any, handler: Callable[[Any], Awaitable[Any]]) -> Any:
        """`_limited` for a call run as a task."""
        limit = self._limit_of(request)
        if limit is None:
            return await handler(request)
        await limit.acquire()
        try:
            return await handler(request)
        finally:
            limit.release()

    def _gate_of(self, request: Any) -> tuple[tuple[str, ...], TurnGate, str] | None:
        """The call's message gate, or `None` when volley cannot tell the calls apart.

        The calls of one message share their state's message list (the same object in every
        `Send`): what it says about its last AI message is worked out once (`_Turn`) and looked
        up per call, so a call does O(1) work rather than rescanning the conversation.
        """
        if request.tool is not None and request.tool.name not in self._tools:
            if self._given:
                logger.warning(
                    "VolleyMiddleware was not given the tool %r: its calls are ordered as "
                    "undeclared until it is known; pass every tool in VolleyMiddleware(tools)",
                    request.tool.name,
                )
            self._tools[request.tool.name] = request.tool
        call_id = request.tool_call.get("id")
        state = request.state
        messages = state.get("messages") if isinstance(state, Mapping) else state
        if not call_id or not isinstance(messages, Sequence):
            return None
        turn: _Turn | None = self._turns.of(messages)
        if turn is None or call_id not in turn.ids:  # a call of an earlier message: look for it
            turn = _Turn.find(messages, call_id)
        if turn is None:
            return None  # not a call of the conversation: nothing to order it against
        if not turn.plannable or call_id in turn.answered:
            return None  # missing or repeated ids: run as the framework would
        return turn.key, self._gates.gate(turn.key, turn.pending, self._access), call_id

    def _access(self, call: Mapping[str, Any]) -> Access:
        name = call.get("name")
        tool = self._tools.get(name) if isinstance(name, str) else None
        if tool is None:  # unknown: answered with an error at once, unless the list given
            return UNDECLARED if self._given else NO_ACCESS  # lacks it, then it may do anything
        arguments = call.get("args")
        return self._declared_of(tool).access(arguments if isinstance(arguments, Mapping) else {})

    def _declared_of(self, tool: BaseTool) -> Tool[..., Any]:
        cached = self._declared.get(tool.name)
        if cached is None or cached[0] is not tool:
            declared = declared_tool(tool.name, options_of(tool), not_applied=NOT_APPLIED)
            cached = self._declared[tool.name] = (tool, declared)
        return cached[1]

    def _limit_of(self, request: Any) -> CallLimit | None:
        """The call's tool's `max_concurrency`, over every call this middleware sees."""
        tool = request.tool
        most = self._declared_of(tool).max_concurrency if tool is not None else None
        if most is None:
            return None
        with self._lock:
            limit = self._limits.get(tool.name)
            if limit is None:
                limit = self._limits[tool.name] = CallLimit(most)
            return limit


class _GivenTools(VolleyMiddleware):
    """`VolleyMiddleware(tools)`: it knows the tools, so it leaves out the model hook."""

    wrap_model_call = AgentMiddleware.wrap_model_call
    awrap_model_call = AgentMiddleware.awrap_model_call

    @property
    def name(self) -> str:
        return "VolleyMiddleware"
