"""Running one call body: its timeout, its retries, and the result a model reads."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt
from tenacity.wait import wait_base, wait_exponential, wait_random

from ._backend import Backend
from ._call import ErrorKind, ToolCall, ToolResult
from ._content import UnserializableResult, cap, render
from ._deadlines import Deadlines
from ._slots import Slots
from ._tool import UNSET, Tool

__all__ = ["CallRunner", "error_result"]


_DEFAULT_WAIT = wait_exponential(multiplier=0.1, max=5.0) + wait_random(0, 0.1)
"""Between retries: 0.1 s, 0.2 s, 0.4 s... up to 5 s, plus up to 0.1 s of jitter."""


class AttemptTimeout(TimeoutError):
    """One attempt ran past the tool's timeout (a `TimeoutError`, so it can be retried)."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"did not finish within {seconds:g} s")
        self.seconds = seconds


def error_result(call: ToolCall, kind: ErrorKind, message: str, **fields: Any) -> ToolResult:
    """An error result for `call`: `message` is what the model reads."""
    return ToolResult(
        call_id=call.id, name=call.name, content=message, is_error=True, error_kind=kind, **fields
    )


class CallRunner:
    """Runs call bodies for one executor, under its timeouts and retry policy.

    Its `slots` hold the executor's concurrency limits, shared by all its batches.
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
    ) -> None:
        self.backend = backend
        self.clock = clock
        self._timeout = timeout
        self._max_chars = max_content_chars
        self._retry_wait = retry_wait or _DEFAULT_WAIT
        self.slots = Slots(max_concurrency)
        self._deadlines = Deadlines(asyncio.get_running_loop())

    def close(self) -> None:
        """Disarm the timeout timers."""
        self._deadlines.close()

    async def run(
        self, call: ToolCall, tool: Tool[..., Any], kwargs: dict[str, Any], started: float
    ) -> ToolResult:
        """Run the call's body, which its batch started at `started`.

        Every outcome but cancellation is a result.
        """
        timeout = self._timeout if tool.timeout is UNSET else tool.timeout
        attempts = 1
        value: Any
        try:
            if tool.retries:
                attempts = 0

                async def attempt() -> Any:
                    nonlocal attempts
                    attempts += 1
                    return await self._attempt(tool, kwargs, timeout)

                value = await self._retrying(tool)(attempt)
            elif timeout is None:
                value = await self.backend.start(tool, kwargs)
            else:  # `_attempt` inlined: this is the path of nearly every call
                deadline = self._deadlines.start(timeout)
                try:
                    value = await self.backend.start(tool, kwargs)
                except asyncio.CancelledError:
                    if deadline.claim_expiry():
                        raise AttemptTimeout(timeout) from None
                    raise
                finally:
                    deadline.finish()
        except AttemptTimeout as exc:
            return error_result(
                call,
                ErrorKind.TIMEOUT,
                f"{tool.name} did not finish within {exc.seconds:g} s and was stopped"
                f"{_after(attempts)}.",
                started_at=started,
                ended_at=self.clock(),
                attempts=attempts,
                exception=exc,
            )
        except Exception as exc:
            return error_result(
                call,
                ErrorKind.EXCEPTION,
                f"{tool.name} failed{_after(attempts)}: {type(exc).__name__}: {exc}",
                started_at=started,
                ended_at=self.clock(),
                attempts=attempts,
                exception=exc,
            )
        ended = self.clock()
        try:
            content = render(value)
        except UnserializableResult as exc:
            return error_result(
                call,
                ErrorKind.INVALID_RESULT,
                f"{tool.name} ran, but its result could not be turned into text "
                f"({type(value).__name__}: {exc}); its effects, if any, have happened.",
                value=value,
                started_at=started,
                ended_at=ended,
                attempts=attempts,
                exception=exc,
            )
        # Positional, in field order: keywords cost more than the rest of a no-op call's result.
        return ToolResult(
            call.id, call.name, cap(content, self._max_chars), value, False, None, started, ended,
            attempts,
        )  # fmt: skip

    async def _attempt(
        self, tool: Tool[..., Any], kwargs: dict[str, Any], timeout: float | None
    ) -> Any:
        """One run of the body; past its deadline it is cancelled and `AttemptTimeout` raised."""
        if timeout is None:
            return await self.backend.start(tool, kwargs)
        deadline = self._deadlines.start(timeout)
        try:
            return await self.backend.start(tool, kwargs)
        except asyncio.CancelledError:
            if deadline.claim_expiry():
                raise AttemptTimeout(timeout) from None
            raise
        finally:
            deadline.finish()

    def _retrying(self, tool: Tool[..., Any]) -> AsyncRetrying:
        return AsyncRetrying(
            stop=stop_after_attempt(tool.retries + 1),
            wait=self._retry_wait,
            retry=retry_if_exception_type(tool.retry_on),
            sleep=asyncio.sleep,
            reraise=True,
        )


def _after(attempts: int) -> str:
    return f" after {attempts} attempts" if attempts > 1 else ""
