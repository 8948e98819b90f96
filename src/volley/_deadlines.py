"""Timeouts for many calls at the cost of one timer.

`asyncio.timeout` arms a timer per call, which costs more than a no-op tool itself. Calls that
share a timeout length start in order, so their deadlines come in order too: a FIFO queue per
length, with one timer armed for the earliest deadline, does the same job in O(1) per call.
"""

from __future__ import annotations

import asyncio
from collections import deque

__all__ = ["Deadline", "Deadlines"]


class Deadline:
    """One attempt's deadline; `expired` is set when it passed and the task was cancelled."""

    __slots__ = ("at", "done", "expired", "task")

    def __init__(self, at: float, task: asyncio.Task[object]) -> None:
        self.at = at
        self.task = task
        self.done = False
        self.expired = False


class _Lane:
    """The deadlines of one timeout length, in order, and the timer for the first of them."""

    __slots__ = ("pending", "timer")

    def __init__(self) -> None:
        self.pending: deque[Deadline] = deque()
        self.timer: asyncio.TimerHandle | None = None


class Deadlines:
    """Cancels each task whose deadline passes; tasks mark their deadline done when they end."""

    def __init__(self) -> None:
        self._lanes: dict[float, _Lane] = {}

    def start(self, seconds: float) -> Deadline:
        """Set a deadline `seconds` from now for the current task."""
        loop = asyncio.get_running_loop()
        task = asyncio.current_task(loop)
        if task is None:
            raise RuntimeError("a deadline needs a running task")
        deadline = Deadline(loop.time() + seconds, task)
        lane = self._lanes.get(seconds)
        if lane is None:
            lane = self._lanes[seconds] = _Lane()
        lane.pending.append(deadline)
        if lane.timer is None:
            lane.timer = loop.call_at(deadline.at, self._expire, lane, loop)
        return deadline

    def _expire(self, lane: _Lane, loop: asyncio.AbstractEventLoop) -> None:
        lane.timer = None
        now = loop.time()
        pending = lane.pending
        while pending and (pending[0].done or pending[0].at <= now):
            deadline = pending.popleft()
            if not deadline.done:
                deadline.expired = True
                deadline.task.cancel()
        if pending:
            lane.timer = loop.call_at(pending[0].at, self._expire, lane, loop)

    def close(self) -> None:
        """Disarm every timer."""
        for lane in self._lanes.values():
            if lane.timer is not None:
                lane.timer.cancel()
        self._lanes.clear()
