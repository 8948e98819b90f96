"""Running one call body: its timeout, its retries, its hedges; `_results` words the outcome."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from functools import partial
from typing import Any

from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt
from tenacity.wait import wait_base, wait_exponential, wait_random

from ._access import NO_ACCESS, Access, conflicts
from ._backend import Backend, ThreadCall
from ._call import ToolCall, ToolResult
from ._deadlines import Deadlines
from ._hedge import HedgeBudget, Hedging
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
            else:  # `_attempt` inlined: the path of nearly every call, where a frame costs
                running = self.backend.start(tool, kwargs)
                if type(running) is ThreadCall:
                    value = await self._in_thread(running, call, access, timeout)
                elif timeout is None:
                    value = await running
                else:
                    deadline = self._deadlines.start(timeout)
                    try:
                        value = await running
                    except asyncio.CancelledError:
                        if deadline.claim_expiry():
                            raise AttemptTimeout(timeout) from None
                        raise
                    finally:
                        deadline.finish()
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
        deadline = self._deadlines.start(timeout)
        try:
            return await running
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
