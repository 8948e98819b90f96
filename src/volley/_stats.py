"""Figures of one batch: how much it overlapped, against what its graph allowed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ._call import ToolResult

__all__ = ["BatchStats", "RunStats", "TurnStats", "batch_stats"]


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
class TurnStats:
    """One round trip of an agent run: the model's turn, then its calls."""

    index: int
    """1 for the first turn."""
    calls: int
    """Tool calls the model asked for in this turn."""
    model_time: float
    """Seconds spent waiting for the model."""
    input_tokens: int
    """Tokens the model read for this turn (the whole conversation so far)."""
    output_tokens: int
    """Tokens the model wrote."""
    batch: BatchStats | None = None
    """The figures of this turn's calls, if it had any."""

    @property
    def tool_time(self) -> float:
        """Wall time of this turn's calls."""
        return self.batch.wall_time if self.batch else 0.0

    @property
    def wall_time(self) -> float:
        """The whole turn: waiting for the model, then running its calls."""
        return self.model_time + self.tool_time

    @property
    def time_saved(self) -> float:
        """Seconds saved against running this turn's calls one by one."""
        return self.batch.time_saved if self.batch else 0.0


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
    def input_tokens(self) -> int:
        """Tokens the model read, over all round trips."""
        return sum(t.input_tokens for t in self.turns)

    @property
    def output_tokens(self) -> int:
        """Tokens the model wrote, over all round trips."""
        return sum(t.output_tokens for t in self.turns)
