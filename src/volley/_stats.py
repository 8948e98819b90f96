"""Figures of one batch: how much it overlapped, against what its graph allowed."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ._call import ToolResult

__all__ = ["BatchStats", "CallTiming", "RunStats", "TurnStats", "batch_stats", "call_timeline"]


@dataclass(frozen=True, slots=True)
class BatchStats:
    """What a batch did, in seconds of the executor's clock."""

    calls: int
    """Calls submitted."""
    failed: int
    """Calls whose result is an error."""
    deduplicated: int
    """Calls that shared an identical earlier read's result instead of running."""
    wall_time: float
    """From the batch's start to its last result."""
    busy_time: float
    """The sum of the calls' durations: what running them one by one would take."""
    peak_concurrency: int
    """The most calls running at one moment."""
    critical_path: float
    """The longest chain of calls that had to run in order: the least a batch can take."""

    @property
    def parallelism(self) -> float:
        """Achieved parallelism: busy time over wall time (1.0 means nothing overlapped)."""
        return self.busy_time / self.wall_time if self.wall_time > 0 else 0.0

    @property
    def time_saved(self) -> float:
        """Seconds saved against running the calls one by one."""
        return max(0.0, self.busy_time - self.wall_time)


def batch_stats(
    results: Sequence[ToolResult],
    predecessors: Sequence[Sequence[int]],
    *,
    started_at: float,
    ended_at: float,
) -> BatchStats:
    """Compute the figures; `predecessors[i]` lists the calls result `i` had to wait for.

    Predecessors always come before their successors in `results`'s order of registration,
    which is why one pass finds the longest chain.
    """
    # A shared read ran once: its copies add no time and occupy no slot.
    durations = [0.0 if r.duplicate_of is not None else r.duration for r in results]
    chain: list[float] = []
    for index, duration in enumerate(durations):
        before = [chain[p] for p in predecessors[index] if p < index]
        chain.append(duration + max(before, default=0.0))
    events: list[tuple[float, int]] = []
    for r in results:
        if r.started_at is not None and r.ended_at is not None and r.duplicate_of is None:
            events.append((r.started_at, 1))
            events.append((r.ended_at, -1))
    events.sort()
    running = peak = 0
    for _, step in events:
        running += step
        peak = max(peak, running)
    return BatchStats(
        calls=len(results),
        failed=sum(r.is_error for r in results),
        deduplicated=sum(r.duplicate_of is not None for r in results),
        wall_time=max(0.0, ended_at - started_at),
        busy_time=sum(durations),
        peak_concurrency=peak,
        critical_path=max(chain, default=0.0),
    )


@dataclass(frozen=True, slots=True)
class CallTiming:
    """One call on a turn's timeline: when the model finished writing it, when it ran."""

    call_id: str
    """The call's id."""
    name: str
    """The tool's name."""
    arguments_done: float
    """When its arguments were complete: as it streamed, or when the whole message arrived."""
    started: float | None
    """When it began running; `None` if it never ran (refused, cancelled, failed dependency)."""
    ended: float
    """When its result existed."""
    is_error: bool
    """Whether its result is an error."""

    @property
    def waited(self) -> float:
        """Seconds between the model finishing the call and the call starting."""
        return (self.started if self.started is not None else self.ended) - self.arguments_done


def call_timeline(
    results: Sequence[ToolResult], arrived: Mapping[str, float], *, default: float
) -> tuple[CallTiming, ...]:
    """Each result as a `CallTiming`; `arrived` maps call ids to when their arguments were done."""
    return tuple(
        CallTiming(
            call_id=r.call_id,
            name=r.name,
            arguments_done=arrived.get(r.call_id, default),
            started=r.started_at,
            ended=r.ended_at if r.ended_at is not None else default,
            is_error=r.is_error,
        )
        for r in results
    )


@dataclass(frozen=True, slots=True)
class TurnStats:
    """One round trip of an agent run: the model's turn, then its calls.

    Times are the executor's clock. With streaming dispatch the calls start while the model is
    still writing, so `tool_time` and `model_time` overlap and `wall_time` is less than their sum.
    """

    index: int
    """1 for the first turn."""
    calls: int
    """Tool calls the model asked for in this turn."""
    started_at: float
    """When the request was sent (the first attempt's, if a broken stream was retried)."""
    message_ended_at: float
    """When the model's whole message had arrived."""
    ended_at: float
    """When the last call's result existed (the message's end if there were no calls)."""
    input_tokens: int
    """Tokens the model read for this turn (the whole conversation so far)."""
    output_tokens: int
    """Tokens the model wrote."""
    batch: BatchStats | None = None
    """The figures of this turn's calls, if it had any."""
    streamed: bool = False
    """Whether calls could start while the message streamed."""
    timeline: tuple[CallTiming, ...] = ()
    """Each call, in call order: arguments done, started, ended."""
    retries: int = 0
    """Broken streams thrown away and asked again."""

    @property
    def model_time(self) -> float:
        """Seconds from sending the request to having the whole message."""
        return self.message_ended_at - self.started_at

    @property
    def tool_time(self) -> float:
        """Wall time of this turn's calls, from the first start to the last result."""
        return self.batch.wall_time if self.batch else 0.0

    @property
    def wall_time(self) -> float:
        """The whole round trip: the request, the message, and every call's result."""
        return self.ended_at - self.started_at

    @property
    def time_saved(self) -> float:
        """Seconds saved against running this turn's calls one by one."""
        return self.batch.time_saved if self.batch else 0.0

    @property
    def early_dispatch_saved(self) -> float:
        """Seconds saved by starting calls while the message streamed.

        Measured against the least that waiting could have taken: the whole message, then the
        longest chain of calls (which assumes no concurrency limit, so it errs on the low side).
        """
        if not self.streamed or self.batch is None:
            return 0.0
        waiting = self.message_ended_at + self.batch.critical_path
        return max(0.0, waiting - self.ended_at)


@dataclass(frozen=True, slots=True)
class RunStats:
    """Figures of a whole agent run."""

    turns: tuple[TurnStats, ...]
    """Each round trip, in order."""
    wall_time: float
    """From the prompt to the answer."""

    @property
    def round_trips(self) -> int:
        """Requests sent to the model."""
        return len(self.turns)

    @property
    def calls(self) -> int:
        """Tool calls run, over all turns."""
        return sum(t.calls for t in self.turns)

    @property
    def calls_per_turn(self) -> list[int]:
        """How many calls each turn asked for: all ones means nothing ran in parallel."""
        return [t.calls for t in self.turns]

    @property
    def model_time(self) -> float:
        """Seconds spent waiting for the model."""
        return sum(t.model_time for t in self.turns)

    @property
    def tool_time(self) -> float:
        """Wall time spent running tools."""
        return sum(t.tool_time for t in self.turns)

    @property
    def time_saved(self) -> float:
        """Tool time saved against running every call one by one."""
        return sum(t.time_saved for t in self.turns)

    @property
    def early_dispatch_saved(self) -> float:
        """Seconds saved by starting calls while messages streamed (see `TurnStats`)."""
        return sum(t.early_dispatch_saved for t in self.turns)

    @property
    def input_tokens(self) -> int:
        """Tokens the model read, over all round trips."""
        return sum(t.input_tokens for t in self.turns)

    @property
    def output_tokens(self) -> int:
        """Tokens the model wrote, over all round trips."""
        return sum(t.output_tokens for t in self.turns)
