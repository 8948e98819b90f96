"""Streaming dispatch: which calls may start while the model is still writing its message.

A call that declares it only reads can start the moment its arguments are complete: if the
message later turns out broken (the stream drops, the model runs out of tokens), it is cancelled
and its result thrown away, and nothing happened that matters. A write cannot be taken back, and
the Vercel AI SDK removed early dispatch over exactly this, so a write waits until the message has
ended. Every call after the first write waits with it: a later read started early would run before
the write it conflicts with, against the order the model wrote them in. A tool that declares
nothing may write too: it waits for the message's end as well, though calls after it need not (it
conflicts with no declared read), and the message asked again would run it a second time.

A plan (`run_plan`) is the calls of its steps, under the same rules, step by step: a step that
only reads starts the moment it is written (while the model writes the rest of the plan) if it
refers only to steps before it, and a step that may write holds back everything after it.
"""

from __future__ import annotations

from collections import Counter, defaultdict, deque
from collections.abc import Callable, Sequence

import pydantic_core

from ._batch import Batch
from ._call import ToolCall, ToolResult
from ._plan import PLAN_TOOL, Expansion, Plans
from ._tool import Tool
from ._toolbox import Toolbox

__all__ = ["EarlyDispatch", "writes"]

MAX_PLAN_TEXT = 64 * 1024
"""A plan's text is read for steps as it streams up to this size; past it, steps wait for its end
(each look parses the text so far: bounded, so a runaway plan cannot make reading quadratic)."""


def writes(tool: Tool[..., object] | None) -> bool:
    """Whether a call of `tool` may change something (unknown tools only get an error)."""
    return tool is not None and (tool.effects == "write" or tool.writes is not None)


class EarlyDispatch:
    """Hands one turn's calls to a batch as the model completes them, holding back writes.

    The batch is made on the first call, so its figures start with the first call, not the
    request. `arrived` records when each call's arguments were complete, for the timeline. With
    `plans`, a `run_plan` call is run as its steps (see `_plan`).
    """

    def __init__(
        self,
        new_batch: Callable[[], Batch],
        toolbox: Toolbox,
        clock: Callable[[], float],
        *,
        on_start: Callable[[ToolCall, bool], None] | None = None,
        plans: Plans | None = None,
    ) -> None:
        self._new_batch = new_batch
        self._plans = plans
        self._toolbox = toolbox
        self._clock = clock
        self._on_start = on_start
        self.batch: Batch | None = None
        self.arrived: dict[str, float] = {}
        self._submitted: Counter[str] = Counter()
        self._holding = False
        self._plan_text: dict[str, list[str]] = {}
        self._plan_size: Counter[str] = Counter()
        self._considered: Counter[str] = Counter()
        """Per plan: how many of its first steps were looked at for an early start."""
        self._expansions: dict[str, Expansion] = {}
        self.ran: list[ToolResult] = []
        """After `results`: what the batch ran, in the message's order, a plan's steps in place."""
        self.plan_results: list[ToolResult] = []
        """After `results`: the result of each plan, gathered from its steps' results."""

    def call_complete(self, call: ToolCall) -> bool:
        """A call's arguments are complete, the message goes on: start it if that is safe."""
        self.arrived.setdefault(call.id, self._clock())
        if self._plans is not None and call.name == PLAN_TOOL:
            return self._plan_complete(call)
        tool = self._toolbox.get(call.name)
        if self._holding or writes(tool):
            self._holding = True
            return False
        if tool is None or not tool.is_read_only or tool.requires_approval:
            return False  # it may write, or wait for a person: not before the message ends
        self._submit([call], early=True)
        return True

    def call_delta(self, call_id: str, name: str, text: str) -> None:
        """More of a call's arguments: a plan's first steps may start before the plan ends."""
        if self._plans is None or name != PLAN_TOOL or self._holding:
            return
        self._plan_text.setdefault(call_id, []).append(text)
        self._plan_size[call_id] += len(text)
        if "}" not in text or self._plan_size[call_id] > MAX_PLAN_TEXT:
            return  # a step can only have ended with a brace
        try:
            partial = pydantic_core.from_json("".join(self._plan_text[call_id]), allow_partial=True)
        except ValueError:
            return
        steps = partial.get("steps") if isinstance(partial, dict) else None
        if isinstance(steps, list) and len(steps) > 1:  # all but the last are whole
            self._start_steps(call_id, steps[:-1])

    def _plan_complete(self, call: ToolCall) -> bool:
        """The whole plan is written: start its steps that may start early and have not."""
        assert self._plans is not None
        self._start_steps(call.id, self._plans.steps_of(call))
        return False

    def _start_steps(self, plan_id: str, steps: list[object]) -> None:
        """Start, in order, the steps not looked at yet that only read; a write holds the rest."""
        assert self._plans is not None
        start = self._considered[plan_id]
        if self._holding or len(steps) <= start:
            return
        self._considered[plan_id] = len(steps)
        for step, settled in self._plans.settled_steps(plan_id, list(steps))[start:]:
            tool = self._toolbox.get(step.name)
            if writes(tool):
                self._holding = True
                return
            if settled and tool is not None and tool.is_read_only and not tool.requires_approval:
                self.arrived.setdefault(step.id, self._clock())
                self._submit([step], early=True)  # counted in `_submitted`, as a call is

    def release(self, calls: Sequence[ToolCall]) -> None:
        """The message ended well: start every call of it not started yet, in its order.

        `calls` is the whole message's; those already started are skipped, so a provider that
        announces no call before the end works too.
        """
        now = self._clock()
        pending: list[ToolCall] = []
        for call in calls:
            self.arrived.setdefault(call.id, now)
            if self._submitted[call.id]:
                self._submitted[call.id] -= 1
            else:
                pending.append(call)
        self._holding = False
        if pending:
            self._submit(pending, early=False)

    async def results(self, calls: Sequence[ToolCall]) -> list[ToolResult]:
        """Every call's result, in the order of `calls` (the message's order).

        A plan's result gathers its steps'; `ran` holds the steps' own.
        """
        if self.batch is None:
            return []
        results = await self.batch.close()
        if [r.call_id for r in results] == [c.id for c in calls]:
            self.ran = results
            return results
        by_id: defaultdict[str, deque[ToolResult]] = defaultdict(deque)
        for result in results:
            by_id[result.call_id].append(result)
        answers: list[ToolResult] = []
        for call in calls:
            if self._plans is None or call.name != PLAN_TOOL:
                answers.append(by_id[call.id].popleft())
                self.ran.append(answers[-1])
                continue
            plan = self._expansion(call)
            mine = {call_id: by_id[call_id].popleft() for call_id in plan.ids}
            self.ran.extend(mine.values())
            answers.append(self._plans.fold(plan, mine))
            if plan.is_plan:
                self.plan_results.append(answers[-1])
        return answers

    async def abandon(self) -> None:
        """The message is void: cancel what started early and wait until nothing runs."""
        self._holding = False
        if self.batch is not None:
            self.batch.cancel()
            await self.batch.close()

    def _submit(self, calls: list[ToolCall], *, early: bool) -> None:
        if self.batch is None:
            self.batch = self._new_batch()
        if not early and self._plans is not None and any(c.name == PLAN_TOOL for c in calls):
            self._submit_plans(self.batch, calls)
            return
        if self._on_start is not None:  # before the batch can answer any of them
            for call in calls:
                self._on_start(call, early)
        if early:
            self._submitted[calls[0].id] += 1
            self.batch.submit(calls[0])
        else:
            self.batch.submit_many(calls)

    def _expansion(self, call: ToolCall) -> Expansion:
        """`Plans.expand`, once per call of the turn: its submission and its result share it."""
        assert self._plans is not None
        known = self._expansions.get(call.id)
        if known is None or known.call is not call:
            known = self._expansions[call.id] = self._plans.expand(call)
        return known

    def _submit_plans(self, batch: Batch, calls: list[ToolCall]) -> None:
        """Submit calls some of which are plans: their steps not started yet, answered first."""
        assert self._plans is not None
        expansions = [self._expansion(call) for call in calls]
        for expansion in expansions:  # a step's arguments were done when its plan's were
            arrived = self.arrived.get(expansion.call.id, self._clock())
            for step_id in expansion.ids:
                self.arrived.setdefault(step_id, arrived)
        steps = [s for e in expansions for s in e.calls if not self._submitted[s.id]]
        if self._on_start is not None:
            for expansion in expansions:
                for step, _ in expansion.answered:
                    self._on_start(step, False)
            for step in steps:
                self._on_start(step, False)
        for expansion in expansions:
            for step, result in expansion.answered:
                batch.answer(step, result)
        batch.submit_many(steps)
