"""What `VolleyToolset` keeps of a run's steps: which calls passed validation, which came.

Pydantic AI validates a message's calls before it runs any, then runs each as a task of its own:
a call that passed validation may still be refused on its way (a capability's hook), so a call
waits only for earlier calls that came, or are still on their way.
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic_ai import RunContext
from pydantic_ai.messages import ModelMessage, ModelResponse, ToolCallPart

from .._access import Access
from .._tool import Tool as VolleyTool
from ._gate import GateRegistry, TurnGate

__all__ = [
    "ARRIVED",
    "RunState",
    "Step",
    "await_earlier",
    "make_gate",
    "noted",
    "noted_after",
]


@dataclasses.dataclass
class Step:
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
    `await_earlier`)."""
    gated: set[str] = dataclasses.field(default_factory=set)
    done: set[str] = dataclasses.field(default_factory=set)
    gates: GateRegistry = dataclasses.field(default_factory=GateRegistry)
    order: tuple[object, int, tuple[str, ...], frozenset[str]] | None = None
    """The last `message_order` worked out: the response, how many calls were validated, the
    order. The calls of a message ask with the same response and count, so it is worked out
    once per batch, not per call."""

    def order_of(self, messages: Sequence[ModelMessage]) -> tuple[tuple[str, ...], frozenset[str]]:
        """The validated calls of the response being run, in the model's order, and as a set."""
        response = last_response(messages)
        known = self.order
        if known is not None and known[0] is response and known[1] == len(self.validated):
            return known[2], known[3]
        order = message_order(response, self.validated)
        self.order = (response, len(self.validated), order, frozenset(order))
        return order, self.order[3]


class RunState:
    """The steps of one run with calls still open; emptied as their calls end."""

    def __init__(self) -> None:
        self._steps: dict[tuple[str | None, int], Step] = {}
        self._limits: dict[str, asyncio.Semaphore] = {}
        self._lock = threading.Lock()

    def step(self, ctx: RunContext[Any]) -> Step:
        key = (ctx.run_id, ctx.run_step)
        step = self._steps.get(key)  # a dict read needs no lock; only making a step does
        if step is not None:
            return step
        with self._lock:
            step = self._steps.get(key)
            if step is None:
                step = self._steps[key] = Step()
            return step

    def new_step(self, ctx: RunContext[Any]) -> None:
        """A new step began: every call of the run's earlier steps has ended or never will."""
        with self._lock:
            for key in [k for k in self._steps if k[0] == ctx.run_id and k[1] < ctx.run_step]:
                del self._steps[key]

    def tidy(self, ctx: RunContext[Any], step: Step) -> None:
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


def noted(
    state: RunState,
    ctx: RunContext[Any],
    declared: VolleyTool[..., Any],
    arguments: Mapping[str, Any],
) -> None:
    if ctx.tool_call_id is not None:
        step = state.step(ctx)
        step.validated[ctx.tool_call_id] = declared.access(arguments)
        step.names[ctx.tool_call_id] = ctx.tool_name or ""


ARRIVED: set[int] = set()
"""The tasks (their ids) inside a `VolleyToolset.call_tool`: calls that came, not calls still on
their way. A task leaves it as it leaves `call_tool` (even a task dropped pending runs the
`finally` that takes it out), so an id here is always a live task's; a set of ids costs less
per call than a `WeakSet`, and holds no task alive."""


async def await_earlier(step: Step, gate: TurnGate, call_id: str) -> None:
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
        and id(task) not in ARRIVED
    ]


async def noted_after(
    pending: Any,
    state: RunState,
    ctx: RunContext[Any],
    declared: VolleyTool[..., Any],
    arguments: Mapping[str, Any],
) -> None:
    await pending  # the tool's own validator: if it refuses the call, the call is not noted
    noted(state, ctx, declared, arguments)


def last_response(messages: Sequence[ModelMessage]) -> ModelResponse | None:
    """The model response being run: the last one of the conversation."""
    for message in reversed(messages):  # the last message, nearly always: a loop, for speed
        if isinstance(message, ModelResponse):
            return message
    return None


def message_order(
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


def make_gate(step: Step, order: tuple[str, ...]) -> TurnGate:
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
