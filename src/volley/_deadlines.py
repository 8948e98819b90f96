"""Timeouts for many calls at the cost of one timer.

`asyncio.timeout` arms a timer per call, which costs more than a no-op tool itself. Calls that
share a timeout length start in order, so their deadlines come in order too: a FIFO queue per
length, with one timer armed for the earliest deadline, does the same job in O(1) per call.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from typing import Any

__all__ = ["Deadline", "Deadlines", "loop_clock"]


def loop_clock(loop: asyncio.AbstractEventLoop) -> Callable[[], float]:
    """The loop's clock; `time.monotonic` itself when that is all the loop's `time()` does.

    Skipping the method saves a Python frame per reading on the hot path; a loop with a clock
    of its own (virtual time in tests, say) keeps it.
    """
    if type(loop).time is asyncio.BaseEventLoop.time:
        return time.monotonic
    return loop.time


class Deadline:
    """One attempt's deadline; `expired` is set when it passed and the task was cancelled."""

    __slots__ = ("at", "cancelling", "done", "expired", "lane", "seconds", "task")

    def __init__(self, at: float, task: asyncio.Task[Any], lane: _Lane, seconds: float) -> None:
        self.at = at
        self.seconds = seconds
        self.task: asyncio.Task[Any] | None = task
        self.cancelling = task.cancelling()
        """Cancellations already pending when the deadline was set: they are not ours."""
        self.lane = lane
        self.done = False
        self.expired = False

    def claim_expiry(self) -> bool:
        """On a cancellation: whether it is only this deadline's (then it is taken back).

        As `asyncio.timeout` does: if someone else also cancelled the task meanwhile, ours is
        taken back but theirs stands, and the cancellation goes on.
        """
        task = self.task
        if self.expired and task is not None:
            self.task = None  # taken back once
            return task.uncancel() <= self.cancelling
        return False

    def finish(self) -> None:
        """The attempt ended: forget the task, and let go of ended deadlines at the queue's head.

        A body that caught the deadline's cancellation and ended all the same has it taken
        back here (as `asyncio.timeout` does), so the task does not go on counting it.
        """
        self.done = True
        if self.expired and self.task is not None:
            self.task.uncancel()
        self.task = None
        pending = self.lane.pending
        while pending and pending[0].done:
            pending.popleft()


class _Lane:
    """The deadlines of one timeout length, in order, and the timer for the first of them."""

    __slots__ = ("pending", "timer")

    def __init__(self) -> None:
        self.pending: deque[Deadline] = deque()
        self.timer: asyncio.TimerHandle | None = None


class Deadlines:
    """Cancels each task whose deadline passes; tasks `finish` their deadline when they end."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self.clock = loop_clock(loop)
        """Where deadlines are read from: `since` in `start` is a reading of it."""
        self._lanes: dict[float, _Lane] = {}

    def start(self, seconds: float, *, since: float | None = None) -> Deadline:
        """Set a deadline for the current task `seconds` after `since` (a `clock` reading), or now.

        Deadlines of one length must be set in the order of their `since`, as the calls of one
        loop do when each reads the clock and sets its deadline in the same step.
        """
        task = asyncio.current_task(self._loop)
        if task is None:
            raise RuntimeError("a deadline needs a running task")
        lane = self._lanes.get(seconds)
        if lane is None:
            lane = self._lanes[seconds] = _Lane()
        at = (self.clock() if since is None else since) + seconds
        deadline = Deadline(at, task, lane, seconds)
        lane.pending.append(deadline)
        if lane.timer is None:
            lane.timer = self._loop.call_at(deadline.at, self._expire, lane)
        return deadline

    def _expire(self, lane: _Lane) -> None:
        lane.timer = None
        now = self.clock()
        pending = lane.pending
        while pending and (pending[0].done or pending[0].at <= now):
            deadline = pending.popleft()
            if not deadline.done and deadline.task is not None:
                deadline.expired = True
                deadline.task.cancel()
        if pending:
            lane.timer = self._loop.call_at(pending[0].at, self._expire, lane)

    def close(self) -> None:
        """Disarm every timer."""
        for lane in self._lanes.values():
            if lane.timer is not None:
                lane.timer.cancel()
        self._lanes.clear()
