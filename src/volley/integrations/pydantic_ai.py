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
from collections.abc import Awaitable, Mapping
from typing import Any, Unpack

try:
    from pydantic_ai import ModelRetry, RunContext
    from pydantic_ai.tools import AgentDepsT, Tool
    from pydantic_ai.toolsets import AbstractToolset, ToolsetTool, WrapperToolset
except ImportError as exc:  # pragma: no cover - depends on what is installed
    from .._errors import MissingExtra

    raise MissingExtra(
        "pydantic-ai is not installed: pip install 'volley-tools[pydantic-ai]'"
    ) from exc

from .._tool import Tool as VolleyTool
from .._tool import ToolOptions
from ._gate import declared_tool
from ._pa_steps import (
    ARRIVED,
    RunState,
    await_earlier,
    make_gate,
    noted,
    noted_after,
)

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
    _state: RunState = dataclasses.field(default_factory=RunState, repr=False, compare=False)
    _declared: dict[str, tuple[tuple[object, object], VolleyTool[..., Any]]] = dataclasses.field(
        default_factory=dict, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        for name, options in (self.tools or {}).items():
            declared_tool(name, options, not_applied=NOT_APPLIED)  # fails here, at construction

    async def for_run(self, ctx: RunContext[AgentDepsT]) -> AbstractToolset[AgentDepsT]:
        """A copy for the run, with state of its own: runs never wait on each other's calls."""
        wrapped = await self.wrapped.for_run(ctx)
        return dataclasses.replace(self, wrapped=wrapped, _state=RunState())

    async def for_run_step(self, ctx: RunContext[AgentDepsT]) -> AbstractToolset[AgentDepsT]:
        """Forget the run's earlier steps: their calls have all ended (or never will)."""
        self._state.new_step(ctx)
        return await super().for_run_step(ctx)

    async def get_tools(self, ctx: RunContext[AgentDepsT]) -> dict[str, ToolsetTool[AgentDepsT]]:
        """The wrapped tools, each noting which calls passed validation and what they touch.

        Pydantic AI validates every call of a message before it runs any; a call that fails
        never reaches `call_tool`. Wrapping each tool's `args_validator_func` (run last, with the
        call's id in its context) tells the gate which calls may come (a capability's hook may
        still refuse one after it: see `await_earlier`).
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
        gate = step.gates.gate(order, lambda: make_gate(step, order))
        task = asyncio.current_task()
        if task is not None:
            ARRIVED.add(id(task))
        waiting = step.arrived.get(call_id)
        step.arrived[call_id] = None
        if waiting is not None and not waiting.done():
            waiting.set_result(None)
        try:
            if gate.must_wait(call_id):  # most calls wait for nothing
                await await_earlier(step, gate, call_id)  # released if the wait fails
                await gate.wait(call_id)
            try:
                return await self._call(name, tool_args, ctx, tool)
            finally:
                gate.release(call_id)
        finally:
            if task is not None:
                ARRIVED.discard(id(task))
            step.done.add(call_id)
            if gate.finished:  # else nothing can be dropped yet: this gate holds the step
                self._state.tidy(ctx, step)

    def _call(
        self,
        name: str,
        tool_args: dict[str, Any],
        ctx: RunContext[AgentDepsT],
        tool: ToolsetTool[AgentDepsT],
    ) -> Awaitable[Any]:
        """The wrapped toolset's call, under the tool's `max_concurrency` and `timeout`.

        Most tools have neither: their call is the wrapped toolset's own coroutine, with no
        layer of ours around it.
        """
        declared = self._declared_for(name, tool)
        timeout = declared.timeout if isinstance(declared.timeout, int | float) else None
        limit = declared.max_concurrency
        if timeout is None and limit is None:
            return self.wrapped.call_tool(name, tool_args, ctx, tool)
        return self._call_bounded(name, tool_args, ctx, tool, timeout, limit)

    async def _call_bounded(
        self,
        name: str,
        tool_args: dict[str, Any],
        ctx: RunContext[AgentDepsT],
        tool: ToolsetTool[AgentDepsT],
        timeout: float | None,
        limit: int | None,
    ) -> Any:
        """A call under a limit or a timeout.

        A timeout ends the call as Pydantic AI's own tool timeout does: a `ModelRetry` saying
        `Timed out after N seconds.`, which the model is sent. Only the call itself is timed,
        not its wait for earlier calls.
        """
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
                return noted(state, ctx, declared, arguments)
            result = inner(ctx, **arguments)
            if inspect.isawaitable(result):
                return noted_after(result, state, ctx, declared, arguments)
            return noted(state, ctx, declared, arguments)

        return dataclasses.replace(tool, args_validator_func=note)

    def _declared_for(self, name: str, tool: ToolsetTool[AgentDepsT]) -> VolleyTool[..., Any]:
        metadata = tool.tool_def.metadata or {}
        given = (self.tools or {}).get(name)
        if given is None:
            given = metadata.get(METADATA_KEY)
        source = (given, metadata.get("annotations"))
        cached = self._declared.get(name)
        if cached is not None:  # the same objects as last time, nearly always: no deep compare
            known = cached[0]
            if (known[0] is source[0] and known[1] is source[1]) or known == source:
                return cached[1]
        options: ToolOptions | None = given
        if "annotations" in metadata:  # an MCP tool: its hints, then the user's corrections
            options = _mcp_options(name, tool, metadata.get("annotations"), given)
        declared = declared_tool(name, options, not_applied=NOT_APPLIED)
        self._declared[name] = (source, declared)
        return declared


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
