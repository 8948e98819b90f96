"""Pydantic AI's tool calls, scheduled by volley: wrap a toolset in `VolleyToolset`.

```python
from volley.integrations.pydantic_ai import VolleyToolset, declare

agent = Agent(model, toolsets=[VolleyToolset(FunctionToolset([get_record, declare(update, ...)]))])
```

Pydantic AI runs a model message's calls as one task each, all at once (a `sequential=True`
tool is the only brake, and it stops everything). The wrapper holds each call until the earlier
calls of the same message it conflicts with are done, so two writes of one record run in the
order the model wrote them while everything else still overlaps.

Needs the `pydantic-ai` extra: `pip install 'volley-tools[pydantic-ai]'`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import inspect
import logging
import threading
import weakref
from collections.abc import Mapping, Sequence
from typing import Any, Unpack

try:
    from pydantic_ai import ModelRetry, RunContext
    from pydantic_ai.messages import ModelMessage, ModelResponse, ToolCallPart
    from pydantic_ai.tools import AgentDepsT, Tool
    from pydantic_ai.toolsets import AbstractToolset, ToolsetTool, WrapperToolset
except ImportError as exc:  # pragma: no cover - depends on what is installed
    from .._errors import MissingExtra

    raise MissingExtra(
        "pydantic-ai is not installed: pip install 'volley-tools[pydantic-ai]'"
    ) from exc

from .._access import Access
from .._tool import Tool as VolleyTool
from .._tool import ToolOptions
from ._gate import GateRegistry, TurnGate, declared_tool

__all__ = ["METADATA_KEY", "NOT_APPLIED", "VolleyToolset", "declare"]

logger = logging.getLogger("volley.integrations.pydantic_ai")

METADATA_KEY = "volley"
"""The key of a tool's metadata (`Tool.metadata`, `ToolDefinition.metadata`) holding its options."""

NOT_APPLIED = {
    "retries": "Pydantic AI retries a call through the model (ModelRetry, the tool's max_retries); "
    "volley does not run a call again behind its back",
}
"""Volley options `VolleyToolset` does not apply (`timeout` and `max_concurrency` it does)."""


def declare(tool: Tool[AgentDepsT], **options: Unpack[ToolOptions]) -> Tool[AgentDepsT]:
    """Say what a Pydantic AI tool touches (`reads`, `writes`, `effects`...); returns the tool.

    The options go into the tool's metadata under `"volley"`, where `VolleyToolset` reads them.
    They are checked here, so a misspelled option fails where it is written, not at run time.
    """
    declared_tool(tool.name, options, not_applied=NOT_APPLIED)
    tool.metadata = {**(tool.metadata or {}), METADATA_KEY: dict(options)}
    return tool


@dataclasses.dataclass
class _Step:
    """One run step's calls, as far as volley knows them.

    A call is `validated` when its arguments passed Pydantic AI's validation: only such calls
    will reach `call_tool`, so only they may make later calls wait. Any call that failed (bad
    arguments, an unknown tool, a `ModelRetry` from a validator) is simply not in the gate.
    """

    validated: dict[str, Access] = dataclasses.field(default_factory=dict)
    names: dict[str, str] = dataclasses.field(default_factory=dict)
    """The tool name each validated call was made with, as the model wrote it."""
    arrived: dict[str, asyncio.Future[None] | None] = dataclasses.field(default_factory=dict)
    """The calls that reached `call_tool` (`None`), and the futures of those awaited (see
    `_await_earlier`)."""
    gated: set[str] = dataclasses.field(default_factory=set)
    done: set[str] = dataclasses.field(default_factory=set)
    gates: GateRegistry = dataclasses.field(default_factory=GateRegistry)
    order: tuple[object, int, tuple[str, ...], frozenset[str]] | None = None
    """The last `_message_order` worked out: the response, how many calls were validated, the
    order. The calls of a message ask with the same response and count, so it is worked out
    once per batch, not per call."""

    def order_of(self, messages: Sequence[ModelMessage]) -> tuple[tuple[str, ...], frozenset[str]]:
        """The validated calls of the response being run, in the model's order, and as a set."""
        response = _last_response(messages)
        known = self.order
        if known is not None and known[0] is response and known[1] == len(self.validated):
            return known[2], known[3]
        order = _message_order(response, self.validated)
        self.order = (response, len(self.validated), order, frozenset(order))
        return order, self.order[3]


class _RunState:
    """The steps of one run with calls still open; emptied as their calls end."""

    def __init__(self) -> None:
        self._steps: dict[tuple[str | None, int], _Step] = {}
        self._limits: dict[str, asyncio.Semaphore] = {}
        self._lock = threading.Lock()

    def step(self, ctx: RunContext[Any]) -> _Step:
        key = (ctx.run_id, ctx.run_step)
        with self._lock:
            step = self._steps.get(key)
            if step is None:
                step = self._steps[key] = _Step()
            return step

    def new_step(self, ctx: RunContext[Any]) -> None:
        """A new step began: every call of the run's earlier steps has ended or never will."""
        with self._lock:
            for key in [k for k in self._steps if k[0] == ctx.run_id and k[1] < ctx.run_step]:
                del self._steps[key]

    def tidy(self, ctx: RunContext[Any], step: _Step) -> None:
        step.gates.forget_finished()
        with self._lock:
            # `done` only holds validated calls: as many means all of them
            if not len(step.gates) and len(step.done) >= len(step.validated):
                self._steps.pop((ctx.run_id, ctx.run_step), None)

    def limit(self, name: str, most: int) -> asyncio.Semaphore:
        """The run's semaphore for tool `name`: at most `most` of its calls at once."""
        with self._lock:
            semaphore = self._limits.get(name)
            if semaphore is None:
                semaphore = self._limits[name] = asyncio.Semaphore(most)
            return semaphore

    def __len__(self) -> int:
        return len(self._steps)


@dataclasses.dataclass
class VolleyToolset(WrapperToolset[AgentDepsT]):
    """Any Pydantic AI toolset, its calls of one model message run by volley's rules.

    A call waits only for the earlier calls of its message that it conflicts with (a common
    key, one of them writing it); the rest overlap as before. What each tool touches comes from
    `tools={"name": {...}}` here, else from its metadata under `"volley"` (see `declare`), else,
    for MCP tools, from their annotations (read-only: a shared read of `mcp:<server>`; anything
    else writes it). A tool that declares nothing overlaps with everything, as in volley.

    Results, errors, retries and events are Pydantic AI's own: only the start of a call moves.
    """

    tools: Mapping[str, ToolOptions] | None = None
    _state: _RunState = dataclasses.field(default_factory=_RunState, repr=False, compare=False)
    _declared: dict[str, tuple[object, VolleyTool[..., Any]]] = dataclasses.field(
        default_factory=dict, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        for name, options in (self.tools or {}).items():
            declared_tool(name, options, not_applied=NOT_APPLIED)  # fails here, at construction

    async def for_run(self, ctx: RunContext[AgentDepsT]) -> AbstractToolset[AgentDepsT]:
        """A copy for the run, with state of its own: runs never wait on each other's calls."""
        wrapped = await self.wrapped.for_run(ctx)
        return dataclasses.replace(self, wrapped=wrapped, _state=_RunState())

    async def for_run_step(self, ctx: RunContext[AgentDepsT]) -> AbstractToolset[AgentDepsT]:
        """Forget the run's earlier steps: their calls have all ended (or never will)."""
        self._state.new_step(ctx)
        return await super().for_run_step(ctx)

    async def get_tools(self, ctx: RunContext[AgentDepsT]) -> dict[str, ToolsetTool[AgentDepsT]]:
        """The wrapped tools, each noting which calls passed validation and what they touch.

        Pydantic AI validates every call of a message before it runs any; a call that fails
        never reaches `call_tool`. Wrapping each tool's `args_validator_func` (run last, with the
        call's id in its context) tells the gate which calls may come (a capability's hook may
        still refuse one after it: see `_await_earlier`).
        """
        tools = await self.wrapped.get_tools(ctx)
        for name in sorted(set(self.tools or {}) - set(tools)):
            logger.warning(
                "VolleyToolset has no tool %r; the options given for it are not used", name
            )
        return {name: self._noting(name, tool) for name, tool in tools.items()}

    async def call_tool(
        self,
        name: str,
        tool_args: dict[str, Any],
        ctx: RunContext[AgentDepsT],
        tool: ToolsetTool[AgentDepsT],
    ) -> Any:
        """Wait for the earlier calls this one conflicts with, then call the wrapped toolset."""
        call_id = ctx.tool_call_id
        step = self._state.step(ctx)
        order, ordered = step.order_of(ctx.messages)
        if call_id is None or call_id not in ordered:
            return await self._call(name, tool_args, ctx, tool)
        gate = step.gates.gate(order, lambda: _make_gate(step, order))
        task = asyncio.current_task()
        if task is not None:
            _ARRIVED.add(task)
        waiting = step.arrived.get(call_id)
        step.arrived[call_id] = None
        if waiting is not None and not waiting.done():
            waiting.set_result(None)
        try:
            if gate.must_wait(call_id):  # most calls wait for nothing
                await _await_earlier(step, gate, call_id)  # released if the wait fails
                await gate.wait(call_id)
            try:
                return await self._call(name, tool_args, ctx, tool)
            finally:
                gate.release(call_id)
        finally:
            if task is not None:
                _ARRIVED.discard(task)
            step.done.add(call_id)
            if gate.finished:  # else nothing can be dropped yet: this gate holds the step
                self._state.tidy(ctx, step)

    async def _call(
        self,
        name: str,
        tool_args: dict[str, Any],
        ctx: RunContext[AgentDepsT],
        tool: ToolsetTool[AgentDepsT],
    ) -> Any:
        """The wrapped toolset's call, under the tool's `max_concurrency` and `timeout`.

        A timeout ends the call as Pydantic AI's own tool timeout does: a `ModelRetry` saying
        `Timed out after N seconds.`, which the model is sent. Only the call itself is timed,
        not its wait for earlier calls.
        """
        declared = self._declared_for(name, tool)
        timeout = declared.timeout if isinstance(declared.timeout, int | float) else None
        limit = declared.max_concurrency
        if timeout is None and limit is None:  # most tools: nothing around the call
            return await self.wrapped.call_tool(name, tool_args, ctx, tool)
        async with contextlib.AsyncExitStack() as stack:
            if limit is not None:
                await stack.enter_async_context(self._state.limit(name, limit))
            if timeout is None:
                return await self.wrapped.call_tool(name, tool_args, ctx, tool)
            timer = asyncio.timeout(timeout)
            try:
                async with timer:
                    return await self.wrapped.call_tool(name, tool_args, ctx, tool)
            except TimeoutError:
                if not timer.expired():
                    raise  # the tool's own TimeoutError, not volley's timeout
                raise ModelRetry(f"Timed out after {timeout} seconds.") from None

    def _noting(self, name: str, tool: ToolsetTool[AgentDepsT]) -> ToolsetTool[AgentDepsT]:
        if tool.tool_def.kind != "function":
            return tool  # external and deferred tools never reach call_tool in this step
        declared = self._declared_for(name, tool)
        inner = tool.args_validator_func
        state = self._state

        def note(ctx: RunContext[AgentDepsT], /, **arguments: Any) -> Any:
            if inner is None:
                return _noted(state, ctx, declared, arguments)
            result = inner(ctx, **arguments)
            if inspect.isawaitable(result):
                return _after(result, state, ctx, declared, arguments)
            return _noted(state, ctx, declared, arguments)

        return dataclasses.replace(tool, args_validator_func=note)

    def _declared_for(self, name: str, tool: ToolsetTool[AgentDepsT]) -> VolleyTool[..., Any]:
        metadata = tool.tool_def.metadata or {}
        given = (self.tools or {}).get(name)
        if given is None:
            given = metadata.get(METADATA_KEY)
        source: object = (given, metadata.get("annotations"))
        cached = self._declared.get(name)
        if cached is not None and cached[0] == source:
            return cached[1]
        options: ToolOptions | None = given
        if "annotations" in metadata:  # an MCP tool: its hints, then the user's corrections
            options = _mcp_options(name, tool, metadata.get("annotations"), given)
        declared = declared_tool(name, options, not_applied=NOT_APPLIED)
        self._declared[name] = (source, declared)
        return declared


def _noted(
    state: _RunState,
    ctx: RunContext[Any],
    declared: VolleyTool[..., Any],
    arguments: Mapping[str, Any],
) -> None:
    if ctx.tool_call_id is not None:
        step = state.step(ctx)
        step.validated[ctx.tool_call_id] = declared.access(arguments)
        step.names[ctx.tool_call_id] = ctx.tool_name or ""


_ARRIVED: weakref.WeakSet[asyncio.Task[Any]] = weakref.WeakSet()
"""The tasks inside a `VolleyToolset.call_tool`: calls that came, not calls still on their way."""


async def _await_earlier(step: _Step, gate: TurnGate, call_id: str) -> None:
    """Wait until every earlier call this one waits for has reached `call_tool`, or never will.

    A call whose arguments passed validation may still be refused on its way to the toolset:
    by a capability hook (`after_tool_validate`, `before_tool_execute`, `wrap_tool_execute` not
    calling on), a deferral, or the end strategy. Pydantic AI starts a message's calls as tasks
    named after their tools, in the model's order, so an earlier call that has not come is
    either in a hook (its task is alive) or refused (no such task is left): then it is released,
    so that nothing waits for it forever.
    """
    try:
        for earlier in gate.predecessors(call_id):
            while earlier not in step.arrived or step.arrived[earlier] is not None:
                if gate.is_released(earlier):
                    break
                on_its_way = _tasks_named(step.names.get(earlier, ""))
                if not on_its_way:  # refused before the toolset: it will never come
                    step.done.add(earlier)
                    gate.release(earlier)
                    break
                coming = step.arrived.get(earlier)
                if coming is None:
                    coming = step.arrived[earlier] = asyncio.get_running_loop().create_future()
                await asyncio.wait([coming, *on_its_way], return_when=asyncio.FIRST_COMPLETED)
    except BaseException:
        gate.release(call_id)
        raise


def _tasks_named(name: str) -> list[asyncio.Task[Any]]:
    """Running tasks that may still bring a call of tool `name` (none that has brought one)."""
    current = asyncio.current_task()
    return [
        task
        for task in asyncio.all_tasks()
        if task.get_name() == name
        and task is not current
        and not task.done()
        and task not in _ARRIVED
    ]


async def _after(
    pending: Any,
    state: _RunState,
    ctx: RunContext[Any],
    declared: VolleyTool[..., Any],
    arguments: Mapping[str, Any],
) -> None:
    await pending  # the tool's own validator: if it refuses the call, the call is not noted
    _noted(state, ctx, declared, arguments)


def _last_response(messages: Sequence[ModelMessage]) -> ModelResponse | None:
    """The model response being run: the last one of the conversation."""
    for message in reversed(messages):  # the last message, nearly always: a loop, for speed
        if isinstance(message, ModelResponse):
            return message
    return None


def _message_order(
    response: ModelResponse | None, validated: Mapping[str, Access]
) -> tuple[str, ...]:
    """The validated calls of the model response being run, in the order the model wrote them."""
    if response is None:
        return ()
    return tuple(
        part.tool_call_id
        for part in response.parts
        if isinstance(part, ToolCallPart) and part.tool_call_id in validated
    )


def _make_gate(step: _Step, order: tuple[str, ...]) -> TurnGate:
    """The gate of the calls validated so far.

    Pydantic AI may validate and run a message in batches (before and after an output tool):
    a new batch's gate also lists the calls of the earlier ones, which have all ended by then,
    or will never run. They are released at once, so nothing waits for them.
    """
    gate = TurnGate([(call_id, step.validated[call_id]) for call_id in order])
    for call_id in order:
        if call_id in step.gated or call_id in step.done:
            gate.release(call_id)
    step.gated.update(order)
    return gate


def _mcp_options(
    name: str, tool: ToolsetTool[Any], annotations: Any, given: ToolOptions | None
) -> ToolOptions:
    """An MCP tool's options from its annotations, as volley's own MCP client reads them."""
    import mcp.types as mt

    from ..mcp._convert import effects_of, scope_key

    server = tool.toolset.id or tool.toolset.label
    listed = mt.Tool.model_validate(
        {
            "name": name,
            "inputSchema": tool.tool_def.parameters_json_schema,
            "annotations": annotations if isinstance(annotations, dict) else None,
        }
    )
    return effects_of(listed, scope_key(server), trust_annotations=True, retries=0, override=given)
