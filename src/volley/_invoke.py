"""Running one call body: its timeout, its retries, its hedges; `_results` words the outcome."""

from __future__ import annotations

import asyncio
import time
import types
from collections.abc import Awaitable, Callable, Coroutine, Generator
from functools import partial
from types import CoroutineType
from typing import Any

from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt
from tenacity.wait import wait_base, wait_exponential, wait_random

from ._access import NO_ACCESS, Access, conflicts
from ._backend import Backend, InProcessBackend, ThreadCall
from ._call import ToolCall, ToolResult
from ._deadlines import Deadlines
from ._hedge import HedgeBudget
from ._hedging import Hedging
from ._results import (
    AttemptTimeout,
    CancelledInThread,
    NeverStarted,
    after_lingering,
    failed,
    value_result,
)
from ._slots import Slots
from ._tool import UNSET, Tool

__all__ = ["CallRunner"]


_DEFAULT_WAIT = wait_exponential(multiplier=0.1, max=5.0) + wait_random(0, 0.1)
"""Between retries: 0.1 s, 0.2 s, 0.4 s... up to 5 s, plus up to 0.1 s of jitter."""


@types.coroutine
def _resume(body: Coroutine[Any, Any, Any], waits_on: Any) -> Generator[Any, None, Any]:
    """Go on awaiting a body already stepped once, which now waits on `waits_on`.

    The task waits on what the body waits on; a cancellation meanwhile is the body's to handle,
    as with `await`. From its next step on, the body is delegated to as `await` does it.
    """
    while True:
        try:
            yield waits_on
        except GeneratorExit:
            body.close()
            raise
        except BaseException as exc:  # thrown in by the task: a cancellation, most likely
            try:
                waits_on = body.throw(exc)
            except StopIteration as returned:
                return returned.value
            continue
        # asyncio's task always resumes a coroutine with None, as `yield from` does first.
        return (yield from body)


async def _awaiting(awaitable: Awaitable[Any]) -> Any:
    return await awaitable


class _Lingering:
    """A sync call that stopped being waited for while its function still runs in a thread."""

    __slots__ = ("access", "call", "returned")

    def __init__(self, call: ToolCall, access: Access, returned: asyncio.Future[None]) -> None:
        self.call = call
        self.access = access
        self.returned = returned


class CallRunner:
    """Runs call bodies for one executor, under its timeouts and retry policy.

    Its `slots` hold the executor's concurrency limits, shared by all its batches. A sync call
    whose thread outlives its timeout (or a cancellation) keeps its resources here until the
    function returns: a later call that conflicts with it, in any batch, waits for that thread
    (at most its own timeout) before it starts, so a late write never lands out of order.
    """

    def __init__(
        self,
        backend: Backend,
        *,
        max_concurrency: int,
        timeout: float | None,
        max_content_chars: int,
        retry_wait: wait_base | None,
        clock: Callable[[], float],
        max_hedges: int = 4,
    ) -> None:
        self.backend = backend
        self._in_process = type(backend) is InProcessBackend  # async bodies: the tool's coroutine
        self.clock = clock
        self.max_hedges = max_hedges
        """Hedges each batch may start (its `HedgeBudget`)."""
        self._timeout = timeout
        self._max_chars = max_content_chars
        self._retry_wait = retry_wait or _DEFAULT_WAIT
        self.slots = Slots(max_concurrency)
        self._deadlines = Deadlines(asyncio.get_running_loop())
        self._lingering: list[_Lingering] = []

    def hedge_budget(self) -> HedgeBudget:
        """The hedges one batch may start: its own, so that one turn cannot spend another's."""
        return HedgeBudget(self.max_hedges)

    def close(self) -> None:
        """Disarm the timeout timers."""
        self._deadlines.close()

    def begin(
        self,
        call: ToolCall,
        tool: Tool[..., Any],
        kwargs: dict[str, Any],
        started: float,
        access: Access = NO_ACCESS,
        hedges: HedgeBudget | None = None,
    ) -> ToolResult | Coroutine[Any, Any, ToolResult]:
        """Run the call's body until it first waits: its result, or a coroutine to finish it.

        The coroutine finishes the call as `run` does. A body that returns without waiting (a
        lookup, a computation, a cache hit) is where the runtime's own cost shows most: it needs
        no coroutine of ours and no deadline. One that waits gets its deadline counted from
        before its first step.
        """
        if tool.retries or tool.hedge_after is not None or self._lingering or not tool.is_async:
            return self.run(call, tool, kwargs, started, access, hedges)
        try:
            if self._in_process:  # the tool's own `async def`: a coroutine
                running = tool.fn(**kwargs)
            elif type(running := self.backend.start(tool, kwargs)) is not CoroutineType:
                running = _awaiting(running)  # a backend's own awaitable
            since = self._deadlines.clock()
            waits_on = running.send(None)
        except StopIteration as returned:
            return value_result(call, returned.value, started, self.clock(), 1, 0, self._max_chars)
        except (Exception, SystemExit, KeyboardInterrupt) as exc:
            # The traceback keeps the tool's frames, not this one: it would link the result
            # (`f_back`) to the frame of the batch's task, and so the batch to itself.
            exc.__traceback__ = exc.__traceback__.tb_next if exc.__traceback__ else None
            return failed(call, exc, started=started, ended=self.clock(), attempts=1, hedges=0)
        timeout = self._timeout if tool.timeout is UNSET else tool.timeout
        return self._go_on(call, running, waits_on, since, timeout, started)

    async def _go_on(
        self,
        call: ToolCall,
        body: Coroutine[Any, Any, Any],
        waits_on: Any,
        since: float,
        timeout: float | None,
        started: float,
    ) -> ToolResult:
        """The rest of a call whose body waited at its first step (see `begin`).

        Its deadline handled here, not in a frame of its own (as `_timed` has it): every
        wake-up of the body passes through each frame in between.
        """
        deadline = None if timeout is None else self._deadlines.start(timeout, since=since)
        problem: BaseException
        try:
            value = await _resume(body, waits_on)
        except asyncio.CancelledError:
            if deadline is None or not deadline.claim_expiry():
                raise
            problem = AttemptTimeout(deadline.seconds)
        except (Exception, SystemExit, KeyboardInterrupt) as exc:
            problem = exc
        else:
            return value_result(call, value, started, self.clock(), 1, 0, self._max_chars)
        finally:
            if deadline is not None:
                deadline.finish()
        return failed(call, problem, started=started, ended=self.clock(), attempts=1, hedges=0)

    async def run(
        self,
        call: ToolCall,
        tool: Tool[..., Any],
        kwargs: dict[str, Any],
        started: float,
        access: Access = NO_ACCESS,
        hedges: HedgeBudget | None = None,
    ) -> ToolResult:
        """Run the call's body, which its batch started at `started`.

        Every outcome but cancellation is a result. A tool that hedges does so within `hedges`,
        its batch's budget (without one it does not hedge).
        """
        timeout = self._timeout if tool.timeout is UNSET else tool.timeout
        if self._lingering and (blocked := await self._after_lingering(call, access, timeout)):
            return blocked
        attempts, hedged = 1, 0
        value: Any
        try:
            if tool.hedge_after is not None and hedges is not None:
                body = partial(self._attempt, call, tool, kwargs, timeout, access)
                hedging = Hedging(body, tool, hedges, self.slots, self.clock)
                try:  # retries wrap the hedged attempt: each may be hedged in its turn
                    retrying = self._retrying(tool) if tool.retries else None
                    value = await (retrying(hedging.attempt) if retrying else hedging.attempt())
                finally:
                    attempts, hedged = hedging.attempts, hedging.hedges
            elif tool.retries:
                attempts = 0

                async def attempt() -> Any:
                    nonlocal attempts
                    attempts += 1
                    return await self._attempt(call, tool, kwargs, timeout, access)

                value = await self._retrying(tool)(attempt)
            else:
                value = await self._attempt(call, tool, kwargs, timeout, access)
        except (Exception, SystemExit, KeyboardInterrupt) as exc:  # timeouts, and the tool's own
            return failed(
                call,
                exc,
                started=started,
                ended=self.clock(),
                attempts=attempts,
                hedges=hedged,
            )
        return value_result(call, value, started, self.clock(), attempts, hedged, self._max_chars)

    async def _attempt(
        self,
        call: ToolCall,
        tool: Tool[..., Any],
        kwargs: dict[str, Any],
        timeout: float | None,
        access: Access,
    ) -> Any:
        """One run of the body; past its deadline it is cancelled and `AttemptTimeout` raised."""
        running = self.backend.start(tool, kwargs)
        if type(running) is ThreadCall:
            return await self._in_thread(running, call, access, timeout)
        if timeout is None:
            return await running
        return await self._timed(running, timeout)

    async def _timed(self, running: Awaitable[Any], timeout: float) -> Any:
        """Await a body under its deadline, which is armed only if the body waits.

        The body's first step runs here, in the call's own task: one that returns without
        waiting (a lookup, a computation, a cache hit) never costs a deadline. One that waits
        gets it counted from before that step, as if it had been armed first.
        """
        body = running if type(running) is CoroutineType else _awaiting(running)
        since = self._deadlines.clock()
        try:
            waits_on = body.send(None)
        except StopIteration as returned:
            return returned.value
        deadline = self._deadlines.start(timeout, since=since)
        try:
            return await _resume(body, waits_on)
        except asyncio.CancelledError:
            if deadline.claim_expiry():
                raise AttemptTimeout(timeout) from None
            raise
        finally:
            deadline.finish()

    async def _in_thread(
        self, running: ThreadCall, call: ToolCall, access: Access, timeout: float | None
    ) -> Any:
        """Wait for a sync body, its timeout counted from when a worker thread takes it up.

        The deadline is armed at once (a per-call signal from the worker would cost a wake-up
        of the loop); when it passes, the time the body spent waiting for a worker is given
        back, and a body that never got one is not started at all.
        """
        limit = timeout
        while True:
            deadline = self._deadlines.start(limit) if limit is not None else None
            try:
                return await running
            except BaseException as exc:
                cancelled = isinstance(exc, asyncio.CancelledError)
                expired = cancelled and deadline is not None and deadline.claim_expiry()
                if expired and timeout is not None:
                    if running.started_at is None and running.abandon():
                        raise NeverStarted(timeout) from None
                    started = running.started_at or time.monotonic()
                    owed = started + timeout - time.monotonic()
                    if owed > 0.001:  # it queued for a worker: it is owed the rest
                        limit = owed
                        continue
                gone = running.abandon() or not running.running  # never ran, or just returned
                if not gone:
                    self._linger(call, access, running)
                if expired and timeout is not None:
                    raise AttemptTimeout(timeout, in_thread=not gone) from None
                if cancelled and not gone:
                    raise CancelledInThread() from exc
                raise
            finally:
                if deadline is not None:
                    deadline.finish()

    def _linger(self, call: ToolCall, access: Access, running: ThreadCall) -> None:
        """Hold the call's resources until its thread returns."""
        returned: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        lingering = _Lingering(call, access, returned)
        self._lingering.append(lingering)

        def release() -> None:
            self._lingering.remove(lingering)
            if not returned.done():
                returned.set_result(None)

        running.when_returned(release)

    async def _after_lingering(
        self, call: ToolCall, access: Access, timeout: float | None
    ) -> ToolResult | None:
        """Wait for the threads still running calls this one conflicts with; `None` once done.

        Returns a `timeout` result if they did not return within this call's own timeout.
        """
        blocking = [item for item in self._lingering if conflicts(item.access, access)]
        if not blocking:
            return None
        _, pending = await asyncio.wait([item.returned for item in blocking], timeout=timeout)
        if not pending:
            return None
        still = [item.call for item in blocking if not item.returned.done()]
        return after_lingering(call, timeout or 0.0, still)

    def _retrying(self, tool: Tool[..., Any]) -> AsyncRetrying:
        return AsyncRetrying(
            stop=stop_after_attempt(tool.retries + 1),
            wait=self._retry_wait,
            retry=retry_if_exception_type(tool.retry_on),
            sleep=asyncio.sleep,
            reraise=True,
        )
