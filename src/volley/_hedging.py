"""The race of a hedged call: its body, perhaps a second body after the delay, the first answer.

The policy (the delay, the budget, the latencies it learns from) is `_hedge`'s; this runs the
attempts, each in a task of its own, and makes sure none outlives its call.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any

from ._hedge import HedgeBudget, hedge_delay

if TYPE_CHECKING:
    from ._slots import Slots
    from ._tool import Tool

__all__ = ["Hedging"]


class _Attempt:
    """One body of a hedged call, in a task of its own."""

    __slots__ = ("ended", "hedge", "started", "task")

    def __init__(self, hedge: bool, started: float) -> None:
        self.hedge = hedge
        self.started = started
        self.ended: float | None = None
        self.task: asyncio.Task[tuple[bool, Any]]

    def outcome(self) -> tuple[bool, Any]:
        """(True, value), or (False, what it raised): a failure is an answer too."""
        if self.task.cancelled():  # cancelled before its first step: it never started
            return False, asyncio.CancelledError()
        return self.task.result()


class Hedging:
    """One call's attempts when its tool hedges: counts what was started, for the call's result.

    `attempt` is one attempt in the eyes of the timeout and retry policy: the body, and perhaps
    a second body started after the delay. Each body keeps its own timeout. The first to return
    wins and the other is cancelled and waited for; one that fails leaves the other to answer.
    """

    __slots__ = ("_budget", "_clock", "_slots", "_start", "_tool", "attempts", "hedges")

    def __init__(
        self,
        start: Callable[[], Awaitable[Any]],
        tool: Tool[..., Any],
        budget: HedgeBudget,
        slots: Slots,
        clock: Callable[[], float],
    ) -> None:
        self._start = start
        self._tool = tool
        self._budget = budget
        self._slots = slots
        self._clock = clock
        self.attempts = 0
        """Bodies started."""
        self.hedges = 0
        """Of those, the ones started as hedges."""

    async def attempt(self) -> Any:
        """The first successful answer of the body and its hedge, or the last failure."""
        delay = hedge_delay(self._tool) if self._budget.left > 0 else None
        if delay is None:  # no hedge can start: the body alone, without a task of its own
            return await self._alone()
        first = self._launch(hedge=False)
        running = [first]
        try:
            await _one_done((first.task,), delay)
            if not first.task.done() and self._may_hedge():
                running.append(self._launch(hedge=True))
            failure: BaseException | None = None
            while True:
                for item in [a for a in running if a.task.done()]:  # the first attempt first
                    running.remove(item)
                    ok, outcome = item.outcome()
                    if ok:
                        self._sample(first, item)
                        return outcome
                    failure = outcome
                if not running:
                    assert failure is not None
                    raise failure
                await _one_done([a.task for a in running])
        except asyncio.CancelledError as exc:
            outcomes = await self._stop(running)
            running = []
            # A cancellation of a body whose thread goes on says so (`CancelledInThread`).
            said = [o for o in outcomes if isinstance(o, asyncio.CancelledError)]
            told = next((o for o in said if type(o) is not asyncio.CancelledError), None)
            if told is not None:
                raise told from exc
            raise
        finally:
            await self._stop(running)

    async def _alone(self) -> Any:
        self.attempts += 1
        started = self._clock()
        value = await self._start()
        if self._tool.latencies is not None:
            self._tool.latencies.add(self._clock() - started)
        return value

    def _launch(self, *, hedge: bool) -> _Attempt:
        attempt = _Attempt(hedge, self._clock())
        attempt.task = asyncio.get_running_loop().create_task(self._run(attempt))
        if hedge:
            tool, slots = self._tool, self._slots
            attempt.task.add_done_callback(lambda _: slots.release(tool))
        return attempt

    async def _run(self, attempt: _Attempt) -> tuple[bool, Any]:
        self.attempts += 1
        self.hedges += attempt.hedge
        try:
            value = await self._start()
        except BaseException as exc:  # even a cancellation: this task's outcome is an answer
            attempt.ended = self._clock()
            return False, exc
        attempt.ended = self._clock()
        return True, value

    def _may_hedge(self) -> bool:
        """A hedge starts only within the batch's budget and a free slot of the limits.

        It never queues for a slot, nor goes ahead of a call that waits for one: a hedge is
        worth starting now or not at all.
        """
        if self._budget.left <= 0 or not self._slots.take_spare(self._tool):
            return False
        self._budget.take()
        return True

    def _sample(self, first: _Attempt, winner: _Attempt) -> None:
        latencies = self._tool.latencies
        if latencies is None:
            return
        if winner is first and first.ended is not None:
            latencies.add(first.ended - first.started)
        elif not first.task.done():  # cut short by its hedge: it took at least this long
            latencies.add(self._clock() - first.started)

    @staticmethod
    async def _stop(running: list[_Attempt]) -> list[Any]:
        """Cancel the attempts still running and wait for each to end: none outlives its call.

        Returns their outcomes. If this wait is itself cancelled, the attempts are still waited
        for, then the cancellation goes on.
        """
        if not running:
            return []
        tasks = [a.task for a in running]
        for task in tasks:
            task.cancel()
        interrupted: asyncio.CancelledError | None = None
        while pending := [t for t in tasks if not t.done()]:
            try:
                await asyncio.wait(pending)
            except asyncio.CancelledError as exc:
                interrupted = exc
                for task in pending:
                    task.cancel()
        if interrupted is not None:
            raise interrupted
        return [a.outcome()[1] for a in running]


async def _one_done(tasks: Iterable[asyncio.Task[Any]], timeout: float | None = None) -> None:
    """Wait until one of `tasks` is done, or `timeout` has passed: `asyncio.wait` for less.

    A hedging tool waits like this on every call, so the sets and the second future of
    `asyncio.wait` are left out.
    """
    loop = asyncio.get_running_loop()
    waiter: asyncio.Future[None] = loop.create_future()

    def wake(_: object = None) -> None:
        if not waiter.done():
            waiter.set_result(None)

    watched = list(tasks)
    for task in watched:
        task.add_done_callback(wake)
    timer = loop.call_later(timeout, wake) if timeout is not None else None
    try:
        await waiter
    finally:
        if timer is not None:
            timer.cancel()
        for task in watched:
            task.remove_done_callback(wake)
