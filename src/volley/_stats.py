"""Figures of one batch: how much it overlapped, against what its graph allowed."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ._call import ToolResult

__all__ = ["BatchStats", "batch_stats"]


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
    predecessors: Callable[[int], Sequence[int]],
    *,
    started_at: float,
    ended_at: float,
) -> BatchStats:
    """Compute the figures; `predecessors(i)` lists the calls result `i` had to wait for.

    Predecessors always come before their successors in `results`'s order of registration,
    which is why one pass finds the longest chain.
    """
    # A shared read ran once: its copies add no time and occupy no slot.
    durations = [0.0 if r.duplicate_of is not None else r.duration for r in results]
    chain: list[float] = []
    for index, duration in enumerate(durations):
        before = [chain[p] for p in predecessors(index) if p < index]
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
