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

import asyncio
import contextvars
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from typing import Any, Literal

from .._access import NO_ACCESS, Access
from .._errors import MissingExtra
from .._tool import Tool
from ._gate import CallLimit, GateRegistry, ListMemo, TurnGate, declared_tool
from ._lc_tools import NOT_APPLIED, declare, options_of

try:
    from langchain_core.messages import AIMessage, AnyMessage, ToolCall, ToolMessage
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


class _Plan(TurnGate):
    """The gate of one AI message's calls, and which call of the message each run is.

    Calls are keyed by their place in the message (ids may be missing or repeated). A call run
    by the node is found by identity (the node hands on the message's own dicts); a call that
    came in a `Send` (`shared`) may be a copy, and is then found by its id.
    """

    def __init__(self, calls: Sequence[ToolCall], access: Sequence[Access], shared: bool) -> None:
        super().__init__([(str(n), a) for n, a in enumerate(access)])
        self._calls = list(calls)
        self._shared = self.shared = shared
        self._claimed: set[int] = set()
        self._claims_ended = 0  # claimed calls released since: the plan is idle when all have ended
        self._arrived: list[Future[None]] = [Future() for _ in self._calls] if shared else []
        self._claim_lock = threading.Lock()
        self._born = time.monotonic()
        # Where each call is, by identity and (for `Send` copies) by id and name, in message
        # order: a claim is O(1) instead of a scan of the message.
        self._by_identity: dict[int, list[int]] = {}
        self._by_id: dict[tuple[Any, Any], list[int]] = {}
        for n, planned in enumerate(self._calls):
            self._by_identity.setdefault(id(planned), []).append(n)
            if shared:
                self._by_id.setdefault(_id_of(planned), []).append(n)

    def claim(self, call: ToolCall) -> str | None:
        """The key of this call in the message (`None`: not one of its calls, runs at once)."""
        with self._claim_lock:
            found = self._first_free(self._by_identity.get(id(call)), call, _is_same_object)
            if found is None and self._shared:
                found = self._first_free(self._by_id.get(_id_of(call)), call, _same)
            if found is None:
                return None
            self._claimed.add(found)
            if self._shared:
                self._arrived[found].set_result(None)
                if self.is_released(str(found)):  # came after it was given up on: it has ended
                    self._claims_ended += 1
            return str(found)

    def _first_free(
        self,
        places: list[int] | None,
        call: ToolCall,
        matches: Callable[[Mapping[str, Any], Mapping[str, Any]], bool],
    ) -> int | None:
        """The first unclaimed place in `places` whose call `matches` (claimed ones are dropped)."""
        while places and places[0] in self._claimed:
            places.pop(0)
        return next(
            (n for n in places or () if n not in self._claimed and matches(self._calls[n], call)),
            None,
        )

    def release(self, call_id: str) -> bool:
        """`TurnGate.release`, counting the claimed calls that have ended."""
        if not self._shared:
            return super().release(call_id)
        with self._claim_lock:  # with `claim`'s count: each claimed call's end counts once
            released = super().release(call_id)
            if released and int(call_id) in self._claimed:
                self._claims_ended += 1
        return released

    def settle(self, *, torn_down: bool) -> None:
        """After a call ended: stop waiting for calls that are not coming, so the plan ends.

        The `Send`s of a message start together: once every call that came has ended and the
        grace is over (or the run is being torn down, cancelled), the rest never will.
        """
        if not self._shared:
            return
        with self._claim_lock:
            if self._claims_ended < len(self._claimed):
                return
            if not torn_down and time.monotonic() - self._born < ARRIVAL_GRACE:
                return
            missing = [n for n in range(len(self._calls)) if n not in self._claimed]
        for n in missing:
            self.release(str(n))

    def _late(self, key: str) -> list[tuple[str, Future[None]]]:
        if not self._shared:  # the node runs every call of the message: all arrive
            return []
        late = ((p, self._arrived[int(p)]) for p in self.predecessors(key))
        return [(p, arrived) for p, arrived in late if not arrived.done()]

    def wait_call(self, key: str) -> None:
        """`wait_sync`, first giving up on earlier calls that do not arrive (`Send` runs)."""
        try:
            deadline = time.monotonic() + ARRIVAL_GRACE
            for predecessor, arrived in self._late(key):
                try:
                    arrived.result(timeout=max(0.0, deadline - time.monotonic()))
                except TimeoutError:
                    self.release(predecessor)
        except BaseException:
            self.release(key)
            raise
        self.wait_sync(key)

    async def await_call(self, key: str) -> None:
        """`wait`, first giving up on earlier calls that do not arrive (`Send` runs)."""
        try:
            deadline = time.monotonic() + ARRIVAL_GRACE
            for predecessor, arrived in self._late(key):
                timeout = max(0.0, deadline - time.monotonic())
                done, _ = await asyncio.wait({asyncio.wrap_future(arrived)}, timeout=timeout)
                if not done:
                    self.release(predecessor)
        except BaseException:
            self.release(key)
            raise
        await self.wait(key)


def _same(planned: Mapping[str, Any], sent: Mapping[str, Any]) -> bool:
    return planned.get("id") == sent.get("id") and planned.get("name") == sent.get("name")


def _is_same_object(planned: Mapping[str, Any], sent: Mapping[str, Any]) -> bool:
    return planned is sent


def _id_of(call: Mapping[str, Any]) -> tuple[Any, Any]:
    """A call's id and name, as a key (their text, so that no value is unhashable)."""
    return str(call.get("id")), str(call.get("name"))


class _SentTurn:
    """The calls a message's `Send`s run: its last AI message's calls not yet answered."""

    __slots__ = ("_by_id", "calls", "key")

    def __init__(self, message: AIMessage, calls: list[ToolCall]) -> None:
        self.calls = calls
        self.key = (str(message.id), *(str(c.get("id")) for c in calls))
        self._by_id: dict[tuple[str, str], list[ToolCall]] = {}
        for c in calls:
            self._by_id.setdefault(_id_of(c), []).append(c)

    def calls_like(self, call: Mapping[str, Any]) -> list[ToolCall]:
        """The calls with the id and name of `call` (at most a few)."""
        return self._by_id.get(_id_of(call), [])

    @classmethod
    def last(cls, messages: Sequence[Any]) -> _SentTurn | None:
        """The turn of a state's messages (`None`: fewer than two calls, nothing to order)."""
        message = next((m for m in reversed(messages) if isinstance(m, AIMessage)), None)
        if message is None:
            return None
        answered = {m.tool_call_id for m in messages if isinstance(m, ToolMessage)}
        calls = [c for c in message.tool_calls if c.get("id") not in answered]
        return cls(message, calls) if len(calls) >= 2 else None


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

    async def _alimited(
        self, call: ToolCall, input_type: _InputType, tool_runtime: ToolRuntime[Any, Any]
    ) -> _Output:
        """`_limited` for a call run as a task."""
        limit = self._limits.get(call.get("name")) if self._limits else None
        if limit is None:
            return await super()._arun_one(call, input_type, tool_runtime)
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
        return self, _Plan(calls, [self._access(call) for call in calls], shared=False)

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
            lambda: _Plan(calls, [self._access(c) for c in calls], shared=True),
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
