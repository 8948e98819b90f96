"""A run, as a trace holds it: turns, their calls, and the figures, as plain typed values.

The same shape comes from a trace file (`load_trace`) and from a `RunResult` in memory
(`Trace.from_result`), so everything that draws a run draws either one. Times are seconds on the
agent's clock, as in `TurnStats`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from .._call import ToolCall, ToolResult
from .._messages import ModelTurn, ToolReturns, UserPrompt
from .._plan import PLAN_TOOL, steps_from_result
from .._stats import CallTiming, RunStats, TurnStats
from ._cap import CONTENT_LIMIT, cap, capped_arguments

if TYPE_CHECKING:
    from .._result import RunResult

__all__ = ["Trace", "TraceCall", "TraceProgress", "TraceTurn"]

MAX_PROGRESS = 100
"""Progress reports kept per call in a trace (the first ones, and always the last)."""


@dataclass(frozen=True, slots=True)
class TraceProgress:
    """How far a call said it was, and when."""

    at: float
    progress: float
    total: float | None = None
    message: str | None = None


@dataclass(frozen=True, slots=True)
class TraceCall:
    """One call of a turn: what the model asked for, when it ran, and what came back."""

    turn: int
    """The turn it belongs to (1 for the first)."""
    id: str
    """The call's id."""
    name: str
    """The tool's name."""
    arguments: Mapping[str, Any] | str
    """As JSON values, or as text (what the model wrote, or JSON cut to the trace's limit)."""
    early: bool
    """Whether it started while the model was still writing the message."""
    arguments_done: float
    """When its arguments were complete (for a turn that never ended: when it was handed over)."""
    started: float | None
    """When it began running; `None` if it never ran."""
    ended: float | None
    """When it ended; `None` if it never ran."""
    is_error: bool
    """Whether its result is an error."""
    error_kind: str | None
    """An `ErrorKind` value, or `None`."""
    content: str
    """The result's text, capped."""
    duplicate_of: str | None = None
    """The earlier identical read whose result it shared, if it did not run itself."""
    attempts: int = 0
    """How many times the tool body was started."""
    progress: tuple[TraceProgress, ...] = ()
    """What it reported while it ran (at most `MAX_PROGRESS` reports, the last always kept)."""
    hedges: int = 0
    """How many of its attempts were hedges (started because an attempt was slow to answer)."""
    after: tuple[str, ...] = ()
    """The calls it waited for, by id: a plan's steps wait for the steps they refer to."""

    @property
    def duration(self) -> float:
        """How long it ran (0 if it never did)."""
        if self.started is None or self.ended is None:
            return 0.0
        return self.ended - self.started


@dataclass(frozen=True, slots=True)
class TraceTurn:
    """One round trip: the model's message, then its calls."""

    index: int
    """1 for the first turn."""
    calls: tuple[TraceCall, ...]
    """The message's calls, in the order the model wrote them."""
    stats: TurnStats | None
    """The turn's figures; `None` if the turn never finished (the run stopped or crashed)."""
    text: str = ""
    """What the model wrote besides its calls, capped."""
    discarded: tuple[TraceCall, ...] = ()
    """Calls of streamed messages that broke and were asked again: cancelled, never answered."""
    retry_errors: tuple[str, ...] = ()
    """Why each broken stream was thrown away, in order."""

    @property
    def finished(self) -> bool:
        """Whether the turn ran to its end (all calls answered)."""
        return self.stats is not None

    @property
    def retries(self) -> int:
        """Broken streams asked again."""
        return self.stats.retries if self.stats is not None else len(self.retry_errors)


@dataclass(frozen=True, slots=True)
class Trace:
    """A recorded agent run."""

    turns: tuple[TraceTurn, ...]
    """Each round trip, in order (the last may be unfinished, if the run stopped in it)."""
    meta: Mapping[str, Any] = field(default_factory=dict)
    """What the run was: what the recorder was told (model, prompt, tools, anything JSON), and
    the prompt and model the run started with where it was told nothing else."""
    wall_start: float | None = None
    """When recording began, as Unix time (`None` for a trace made from a result)."""
    started_at: float | None = None
    """When the run started, on its clock (`None` if not recorded, or made from a result)."""
    stats: RunStats | None = None
    """The run's figures; `None` if the model never answered (an error, a crash, a cut file)."""
    output: str | None = None
    """The model's answer, capped; `None` if it never answered."""
    error: str | None = None
    """Why the run failed, if it raised: `IncompleteTurn: turn 2 could not be used: ...`."""
    failed_at: float | None = None
    """When it failed, on its clock."""
    truncated: bool = False
    """Whether the file's last line was cut off (the writer died mid-line); it was skipped."""

    @property
    def finished(self) -> bool:
        """Whether the run ended with the model's answer."""
        return self.stats is not None

    @property
    def figures(self) -> RunStats:
        """The run's figures; for a run that never finished, those of its finished turns."""
        if self.stats is not None:
            return self.stats
        start, end = self.span
        finished = tuple(t.stats for t in self.turns if t.stats is not None)
        return RunStats(finished, end - start)

    @property
    def span(self) -> tuple[float, float]:
        """The first and last moment anything in the trace happened (0, 0 if nothing did)."""
        times: list[float] = []
        for turn in self.turns:
            if turn.stats is not None:
                times += (turn.stats.started_at, turn.stats.ended_at)
            for call in (*turn.discarded, *turn.calls):
                times += [
                    t for t in (call.arguments_done, call.started, call.ended) if t is not None
                ]
        times += [t for t in (self.started_at, self.failed_at) if t is not None]
        if not times:
            return 0.0, 0.0
        start = self.started_at if self.started_at is not None else min(times)
        if self.stats is not None and self.turns and self.turns[0].stats is not None:
            start = min(start, self.turns[0].stats.started_at)
            return start, max(max(times), start + self.stats.wall_time)
        return start, max(times)

    @classmethod
    def from_result(
        cls,
        result: RunResult,
        meta: Mapping[str, Any] | None = None,
        *,
        max_content: int = CONTENT_LIMIT,
        wall_start: float | None = None,
    ) -> Trace:
        """The trace of a finished run, without a file (for a demo, or a test).

        A result does not say which calls were handed over while the message streamed, so
        `early` is inferred as "started before the message ended"; and calls of broken streams
        are not in it, so `discarded` and `retry_errors` are empty (`stats.retries` counts them).
        The prompt goes into `meta` unless `meta` has one.

        Raises:
            ValueError: the result's messages and figures do not describe the same turns.
        """
        answered: list[tuple[ModelTurn, tuple[ToolResult, ...]]] = []
        for message in result.messages:
            if isinstance(message, ModelTurn):
                answered.append((message, ()))
            elif isinstance(message, ToolReturns) and answered:
                answered[-1] = (answered[-1][0], message.results)
        if len(answered) != len(result.stats.turns):
            raise ValueError(
                f"the result has {len(answered)} model messages but figures for "
                f"{len(result.stats.turns)} turns"
            )
        turns = tuple(
            TraceTurn(
                index=stats.index,
                calls=_calls(stats, message, results, max_content),
                stats=stats,
                text=cap(message.text, max_content),
            )
            for stats, (message, results) in zip(result.stats.turns, answered, strict=True)
        )
        prompt = next((m.text for m in result.messages if isinstance(m, UserPrompt)), None)
        return cls(
            turns=turns,
            meta=({"prompt": prompt} if prompt is not None else {}) | dict(meta or {}),
            wall_start=wall_start,
            stats=result.stats,
            output=cap(result.output, max_content),
        )


def _calls(
    stats: TurnStats, message: ModelTurn, results: tuple[ToolResult, ...], limit: int
) -> tuple[TraceCall, ...]:
    """The turn's calls as they ran: the message's, with each plan's steps in its place."""
    if [t.call_id for t in stats.timeline] == [c.id for c in message.calls[: len(stats.timeline)]]:
        pairs = zip(message.calls, stats.timeline, strict=False)
        return tuple(
            _call(stats, call, _result(results, k, call), timing, limit)
            for k, (call, timing) in enumerate(pairs)
        )
    ran = {c.id: (c, _result(results, k, c)) for k, c in enumerate(message.calls)}
    steps: dict[str, tuple[ToolCall, ToolResult]] = {}
    for call in message.calls:
        plan_result = ran[call.id][1]
        if call.name == PLAN_TOOL and plan_result is not None:
            steps.update(steps_from_result(call, plan_result))
    traced: list[TraceCall] = []
    for timing in stats.timeline:
        if timing.call_id in steps:  # its times are the timeline's (the plan's result has none)
            step, told = steps[timing.call_id]
            ended = timing.ended if timing.started is not None else None
            told = replace(
                told, started_at=timing.started, ended_at=ended, attempts=1 if ended else 0
            )
            traced.append(_call(stats, step, told, timing, limit))
        elif timing.call_id in ran:
            traced.append(_call(stats, *ran[timing.call_id], timing, limit))
    return tuple(traced)


def _result(results: tuple[ToolResult, ...], k: int, call: ToolCall) -> ToolResult | None:
    """The result of the `k`-th call: results come in call order, one per call."""
    if k < len(results) and results[k].call_id == call.id:
        return results[k]
    return next((r for r in results if r.call_id == call.id), None)


def _call(
    stats: TurnStats,
    call: ToolCall,
    result: ToolResult | None,
    timing: CallTiming,
    limit: int,
) -> TraceCall:
    """A call of a finished turn, from the message, its result and its timeline entry."""
    started = result.started_at if result is not None else timing.started
    return TraceCall(
        turn=stats.index,
        id=call.id,
        name=call.name,
        arguments=capped_arguments(call.arguments, limit),
        early=stats.streamed and started is not None and started < stats.message_ended_at,
        arguments_done=timing.arguments_done,
        started=started,
        ended=result.ended_at if result is not None else timing.ended,
        is_error=result.is_error if result is not None else timing.is_error,
        error_kind=None if result is None or result.error_kind is None else str(result.error_kind),
        content=cap(result.content, limit) if result is not None else "",
        duplicate_of=result.duplicate_of if result is not None else None,
        attempts=result.attempts if result is not None else 0,
        hedges=result.hedges if result is not None else 0,
        after=call.depends_on,
    )
