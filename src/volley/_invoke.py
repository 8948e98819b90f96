"""Running one call body: limits, timeout, retries, and the result a model reads."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt
from tenacity.wait import wait_base, wait_exponential_jitter

from ._backend import Backend
from ._call import ErrorKind, ToolCall, ToolResult
from ._content import UnserializableResult, cap, render
from ._deadlines import Deadlines
from ._tool import UNSET, Tool

__all__ = ["CallRunner", "error_result"]


_DEFAULT_WAIT = wait_exponential_jitter(multiplier=0.1, max=5.0, jitter=0.1)
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
    """Runs call bodies for one executor, under its limits, timeouts and retry policy."""

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
        self._retry_wait = retry_wait or wait_exponential_jitter(
            multiplier=0.1, max=5.0, jitter=0.1
        )
        self._limit = asyncio.Semaphore(max_concurrency)
        self._tool_limits: dict[str, asyncio.Semaphore] = {}
        self._deadlines = Deadlines()

    def close(self) -> None:
        """Disarm the timeout timers."""
        self._deadlines.close()

    async def run(self, call: ToolCall, tool: Tool[..., Any], kwargs: dict[str, Any]) -> ToolResult:
        """Run the call once its turn has come; every outcome but cancellation is a result."""
        tool_limit = None
        if tool.max_concurrency is not None:
            tool_limit = self._tool_limits.get(tool.name)
            if tool_limit is None:
                tool_limit = self._tool_limits[tool.name] = asyncio.Semaphore(tool.max_concurrency)
            await tool_limit.acquire()
        try:
            await self._limit.acquire()
            try:
                return await self._run_limited(call, tool, kwargs)
            finally:
                self._limit.release()
        finally:
            if tool_limit is not None:
                tool_limit.release()

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
            if deadline.expired:
                deadline.task.uncancel()
                raise AttemptTimeout(timeout) from None
            raise
        finally:
            deadline.done = True

    async def _run_limited(
        self, call: ToolCall, tool: Tool[..., Any], kwargs: dict[str, Any]
    ) -> ToolResult:
        timeout = self._timeout if tool.timeout is UNSET else tool.timeout
        attempts = 1
        started = self.clock()
        value: Any
        try:
            if tool.retries:
                attempts = 0

                async def attempt() -> Any:
                    nonlocal attempts
                    attempts += 1
                    return await self._attempt(tool, kwargs, timeout)

                value = await self._retrying(tool)(attempt)
            else:
                value = await self._attempt(tool, kwargs, timeout)
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
        return ToolResult(
            call_id=call.id,
            name=call.name,
            content=cap(content, self._max_chars),
            value=value,
            started_at=started,
            ended_at=ended,
            attempts=attempts,
        )

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
