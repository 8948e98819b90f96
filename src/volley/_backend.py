"""Where a call body runs. The executor decides when; a backend only runs what it is given."""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import Awaitable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

from ._tool import Tool

__all__ = ["Backend", "InProcessBackend"]


class Backend(Protocol):
    """Starts one call body and gives back an awaitable of its return value (or exception)."""

    def start(self, tool: Tool[..., Any], kwargs: dict[str, Any]) -> Awaitable[Any]:
        """Start `tool` with `kwargs`; cancelling the awaitable must stop waiting at once."""
        ...

    def close(self) -> None:
        """Release what the backend holds; must not wait for calls still running."""
        ...


class InProcessBackend:
    """Async tools on the event loop; sync tools in a bounded pool of threads.

    A thread cannot be interrupted: when a sync call times out or is cancelled, the executor
    stops waiting for it at once and its result is discarded, but its thread runs on until the
    function returns, holding one worker of the pool. Tools that may hang are better async.
    """

    def __init__(self, *, max_threads: int = 32) -> None:
        if max_threads < 1:
            raise ValueError("max_threads must be >= 1")
        self.max_threads = max_threads
        self._pool: ThreadPoolExecutor | None = None

    def start(self, tool: Tool[..., Any], kwargs: dict[str, Any]) -> Awaitable[Any]:
        """An async tool's own coroutine (no extra layer); a sync tool goes to the thread pool."""
        if tool.is_async:
            coroutine: Awaitable[Any] = tool.fn(**kwargs)
            return coroutine
        return self._in_thread(tool, kwargs)

    async def _in_thread(self, tool: Tool[..., Any], kwargs: dict[str, Any]) -> Any:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.max_threads, thread_name_prefix="volley-tool")
        context = contextvars.copy_context()
        call = functools.partial(context.run, tool.fn, **kwargs)
        value = await asyncio.get_running_loop().run_in_executor(self._pool, call)
        if asyncio.iscoroutine(value):
            return await value
        return value

    def close(self) -> None:
        """Drop queued sync calls; threads already running finish in the background."""
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
