"""LangGraph's `ToolNode`, with the calls of one AI message scheduled by volley.

```python
from volley.integrations.langgraph import ToolNode, declare

create_record = declare(create_record, writes=lambda args: [f"record:{args['id']}"])
update_record = declare(update_record, writes=lambda args: [f"record:{args['id']}"])
node = ToolNode([create_record, update_record, search])  # was: langgraph.prebuilt.ToolNode
agent = create_react_agent(model, node)
```

LangGraph runs a message's calls all at once (`asyncio.gather`, or a thread pool), so a
create-then-update in one message races. This node is LangGraph's own, subclassed: same
constructor, inputs, outputs, injection, wrappers and error texts. The only change is when each
call starts: a call waits until the earlier calls of its message that it conflicts with (by its
tool's declared `reads`/`writes`/`effects`) are done; everything else still runs at once, and
results stay in call order. A tool declares nothing unless `declare` (its `metadata["volley"]`)
or its MCP annotations say so, and then it overlaps as before.

Two ways a message's calls reach the node, both scheduled: the whole message at once (a state,
a message list, a tool-call list: `create_react_agent(version="v1")`, a hand-built graph), or one
`Send` per call (`create_react_agent`'s default `v2`): the calls of a message, sent to separate
runs of the node, find one gate through the state's last AI message.

A tool's `max_concurrency` limits its calls running at once (over all runs of the node). LangGraph
runs the call (a sync tool in a thread, which no timeout can stop; errors through
`handle_tool_errors`), so `timeout` and `retries` are refused (`ConfigurationError`) rather than
quietly ignored.

Private seams: the node overrides `_func`/`_afunc` (the batch entry points) and
`_run_one`/`_arun_one` (one call each) of `langgraph.prebuilt.ToolNode`, so the `langgraph` extra
pins `langgraph-prebuilt>=1.1,<1.2`.
"""

from __future__ import annotations

import contextvars
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Literal

from .._access import NO_ACCESS, Access
from .._errors import MissingExtra
from .._tool import Tool
from ._gate import CallLimit, GateRegistry, ListMemo, declared_tool
from ._lc_tools import NOT_APPLIED, declare, options_of
from ._lg_plan import _Plan, _same, _SentTurn

try:
    from langchain_core.messages import AnyMessage, ToolCall, ToolMessage
    from langchain_core.runnables import RunnableConfig
    from langchain_core.tools import BaseTool
    from langgraph.prebuilt import ToolNode as _LangGraphToolNode
    from langgraph.prebuilt.tool_node import (
        AsyncToolCallWrapper,
        ToolCallWrapper,
        ToolRuntime,
        _default_handle_tool_errors,
    )
    from langgraph.runtime import Runtime
    from langgraph.types import Command
    from pydantic import BaseModel
except ImportError as exc:  # pragma: no cover - depends on what is installed
    raise MissingExtra("langgraph is not installed: pip install 'volley-tools[langgraph]'") from exc

if not all(  # pragma: no cover - depends on what is installed
    hasattr(_LangGraphToolNode, seam) for seam in ("_func", "_afunc", "_run_one", "_arun_one")
):
    raise MissingExtra(
        "this langgraph-prebuilt is not supported: pip install 'volley-tools[langgraph]'"
    )

__all__ = ["ToolNode", "declare", "options_of"]

ARRIVAL_GRACE = 0.5
"""Seconds a `Send`-run call waits for an earlier call of its message that has not arrived.

The `Send`s of one message start together, so an earlier call arrives at once unless it is not
coming (a router that sent only some calls, a resumed run); then the call goes on without it
rather than hang.
"""

_InputType = Literal["list", "dict", "tool_calls"]
_Output = ToolMessage | Command[Any] | list[Command[Any] | ToolMessage]


_current: contextvars.ContextVar[tuple[object, _Plan] | None] = contextvars.ContextVar(
    "volley_langgraph_plan", default=None
)


class ToolNode(_LangGraphToolNode):
    """`langgraph.prebuilt.ToolNode`, running a message's conflicting calls in model order.

    Same constructor and behaviour as LangGraph's; tools declare what they touch with
    `declare(tool, reads=..., writes=...)` or MCP annotations. A misspelled volley option is a
    `ConfigurationError` here.
    """

    def __init__(
        self,
        tools: Sequence[BaseTool | Callable[..., Any]],
        *,
        name: str = "tools",
        tags: list[str] | None = None,
        handle_tool_errors: bool
        | str
        | Callable[..., str]
        | type[Exception]
        | tuple[type[Exception], ...] = _default_handle_tool_errors,
        messages_key: str = "messages",
        wrap_tool_call: ToolCallWrapper | None = None,
        awrap_tool_call: AsyncToolCallWrapper | None = None,
    ) -> None:
        super().__init__(
            tools,
            name=name,
            tags=tags,
            handle_tool_errors=handle_tool_errors,
            messages_key=messages_key,
            wrap_tool_call=wrap_tool_call,
            awrap_tool_call=awrap_tool_call,
        )
        self._declared: dict[str, Tool[..., Any]] = {
            name: declared_tool(name, options_of(tool), not_applied=NOT_APPLIED)
            for name, tool in self.tools_by_name.items()
        }
        self._limits = {  # `max_concurrency`: a tool's calls at once, over all runs of the node
            name: CallLimit(most)
            for name, declared in self._declared.items()
            if (most := declared.max_concurrency) is not None
        }
        self._shared_plans = GateRegistry()
        self._sent_turns = ListMemo(_SentTurn.last)

    def _func(
        self,
        input: list[AnyMessage] | dict[str, Any] | BaseModel,
        config: RunnableConfig,
        runtime: Runtime[Any],
    ) -> Any:
        token = _current.set(self._plan(input, config))
        try:
            return super()._func(input, config, runtime)
        finally:
            _current.reset(token)

    async def _afunc(
        self,
        input: list[AnyMessage] | dict[str, Any] | BaseModel,
        config: RunnableConfig,
        runtime: Runtime[Any],
    ) -> Any:
        token = _current.set(self._plan(input, config))
        try:
            return await super()._afunc(input, config, runtime)
        finally:
            _current.reset(token)

    def _run_one(
        self, call: ToolCall, input_type: _InputType, tool_runtime: ToolRuntime[Any, Any]
    ) -> _Output:
        plan, key = self._claim(call)
        if plan is None or key is None:
            return self._limited(call, input_type, tool_runtime)
        torn_down = True
        try:
            plan.wait_call(key)  # released if the wait fails
            try:
                result = self._limited(call, input_type, tool_runtime)
            finally:
                plan.release(key)
            torn_down = False
            return result
        except Exception:
            torn_down = False
            raise
        finally:
            self._settle(plan, torn_down=torn_down)

    async def _arun_one(
        self, call: ToolCall, input_type: _InputType, tool_runtime: ToolRuntime[Any, Any]
    ) -> _Output:
        plan, key = self._claim(call)
        if plan is None or key is None:
            return await self._alimited(call, input_type, tool_runtime)
        torn_down = True
        try:
            if plan.shared or plan.must_wait(key):  # most calls wait for nothing
                await plan.await_call(key)  # released if the wait fails
            try:
                result = await self._alimited(call, input_type, tool_runtime)
            finally:
                plan.release(key)
            torn_down = False
            return result
        except Exception:
            torn_down = False
            raise
        finally:
            self._settle(plan, torn_down=torn_down)

    def _limited(
        self, call: ToolCall, input_type: _InputType, tool_runtime: ToolRuntime[Any, Any]
    ) -> _Output:
        """LangGraph's run of the call, within its tool's `max_concurrency` (after its turn)."""
        limit = self._limits.get(call.get("name")) if self._limits else None
        if limit is None:
            return super()._run_one(call, input_type, tool_runtime)
        limit.acquire_sync()
        try:
            return super()._run_one(call, input_type, tool_runtime)
        finally:
            limit.release()

    def _alimited(
        self, call: ToolCall, input_type: _InputType, tool_runtime: ToolRuntime[Any, Any]
    ) -> Awaitable[_Output]:
        """`_limited` for a call run as a task: without a limit, LangGraph's own coroutine."""
        limit = self._limits.get(call.get("name")) if self._limits else None
        if limit is None:
            return super()._arun_one(call, input_type, tool_runtime)
        return self._arun_within(limit, call, input_type, tool_runtime)

    async def _arun_within(
        self,
        limit: CallLimit,
        call: ToolCall,
        input_type: _InputType,
        tool_runtime: ToolRuntime[Any, Any],
    ) -> _Output:
        await limit.acquire()
        try:
            return await super()._arun_one(call, input_type, tool_runtime)
        finally:
            limit.release()

    def _settle(self, plan: _Plan, *, torn_down: bool) -> None:
        """A call ended (`torn_down`: cancelled): drop the plans that have nothing left to run."""
        if plan.shared:  # a plan of the whole message lives only as long as the node's run
            plan.settle(torn_down=torn_down)
            self._shared_plans.forget_finished()

    def _claim(self, call: ToolCall) -> tuple[_Plan | None, str | None]:
        current = _current.get()
        if current is None or current[0] is not self:  # a call from outside this node's batch
            return None, None
        plan = current[1]
        return plan, plan.claim(call)

    def _plan(
        self, input: list[AnyMessage] | dict[str, Any] | BaseModel, config: RunnableConfig
    ) -> tuple[object, _Plan] | None:
        """The plan of the message this node run is part of (`None`: nothing to order)."""
        if isinstance(input, dict) and input.get("__type") == "tool_call_with_context":
            return self._shared_plan(input, config)
        try:
            calls, _ = self._parse_input(input)
        except Exception:  # LangGraph's own parsing raises it again, with its own words
            return None
        if len(calls) < 2:
            return None
        access = [self._access(call) for call in calls]
        return self, _Plan(calls, access, shared=False, grace=ARRIVAL_GRACE)

    def _shared_plan(
        self, sent: Mapping[str, Any], config: RunnableConfig
    ) -> tuple[object, _Plan] | None:
        """For a call in a `Send`: the plan of its message's unanswered calls, shared by all."""
        call = sent.get("tool_call")
        state = sent.get("state")
        messages = (
            state.get(self._messages_key)
            if isinstance(state, Mapping)
            else getattr(state, self._messages_key, None)
        )
        if not isinstance(call, Mapping) or not isinstance(messages, Sequence):
            return None
        turn = self._sent_turns.of(messages)
        if turn is None or not any(_same(c, call) for c in turn.calls_like(call)):
            return None
        thread = str((config.get("configurable") or {}).get("thread_id", ""))
        calls = turn.calls
        gate = self._shared_plans.gate(
            (thread, *turn.key),
            lambda: _Plan(
                calls, [self._access(c) for c in calls], shared=True, grace=ARRIVAL_GRACE
            ),
        )
        return (self, gate) if isinstance(gate, _Plan) else None

    def _access(self, call: ToolCall) -> Access:
        """What a call holds: its tool's declaration applied to the model's arguments."""
        name = call.get("name")
        declared = self._declared.get(name) if isinstance(name, str) else None
        if declared is None:  # an unknown tool: LangGraph answers it with an error at once
            return NO_ACCESS
        arguments = call.get("args")
        return declared.access(arguments if isinstance(arguments, Mapping) else {})
