"""Where a call body runs. The executor decides when; a backend only runs what it is given."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine, Generator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

from ._tool import Tool

__all__ = ["Backend", "InProcessBackend", "ThreadCall"]


class Backend(Protocol):
    """Starts one call body and gives back an awaitable of its return value (or exception)."""

    def start(self, tool: Tool[..., Any], kwargs: dict[str, Any]) -> Awaitable[Any]:
        """Start `tool` with `kwargs`; cancelling the awaitable must stop waiting at once."""
        ...

    def close(self) -> None:
        """Release what the backend holds; must not wait for calls still running."""
        ...


class ThreadCall:
    """A sync call's body, given to a worker thread; await it for the function's value.

    A thread cannot be stopped. A body that has not started can be `abandon`ed (it never runs);
    one that has started runs to its end whatever happens to the wait, and `when_returned` tells
    when it did, so the executor keeps the call's resources held until then. `started` is set
    when the pool was full at submission: a worker then picks the body up later, and the call's
    timeout should count from that moment, not from the queue.
    """

    __slots__ = (
        "_callbacks",
        "_future",
        "_lock",
        "_loop",
        "_on_end",
        "_state",
        "started",
        "started_at",
    )

    def __init__(
        self,
        pool: ThreadPoolExecutor,
        fn: Callable[..., Any],
        kwargs: dict[str, Any],
        *,
        queued: bool,
        on_end: Callable[[], None],
    ) -> None:
        loop = self._loop = asyncio.get_running_loop()
        self._lock = threading.Lock()
        self._state = _PENDING
        self._callbacks: list[Callable[[], None]] = []
        self._on_end = on_end
        self.started: asyncio.Future[None] | None = loop.create_future() if queued else None
        self.started_at: float | None = None
        """When a worker began the function (`time.monotonic()`), or `None` if none has yet."""
        context = contextvars.copy_context()
        self._future = loop.run_in_executor(pool, context.run, self._run, fn, kwargs)

    def _run(self, fn: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
        with self._lock:
            if self._state is not _PENDING:  # abandoned while it waited for this worker
                return None
            self._state = _RUNNING
            self.started_at = time.monotonic()
        if self.started is not None:
            _call_soon(self._loop, _set_result, self.started)
        try:
            return fn(**kwargs)
        finally:
            with self._lock:
                self._state = _RETURNED
                callbacks, self._callbacks = self._callbacks, []
            self._on_end()
            for callback in callbacks:
                _call_soon(self._loop, callback)

    def abandon(self) -> bool:
        """Make sure a body that has not started never does; False if it has started."""
        with self._lock:
            if self._state is not _PENDING:
                return False
            self._state = _ABANDONED
        self._on_end()
        return True

    @property
    def running(self) -> bool:
        """Whether a worker is inside the function now."""
        return self._state is _RUNNING

    def when_returned(self, callback: Callable[[], None]) -> None:
        """Call `callback` on the loop once the function has returned (at once if it has)."""
        with self._lock:
            if self._state is _RUNNING:
                self._callbacks.append(callback)
                return
        callback()

    def __await__(self) -> Generator[Any, None, Any]:
        value = yield from self._future.__await__()
        if isinstance(value, Coroutine):  # a sync function that returned a coroutine
            value = yield from value.__await__()
        return value


_PENDING, _RUNNING, _RETURNED, _ABANDONED = "pending", "running", "returned", "abandoned"


def _set_result(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _call_soon(loop: asyncio.AbstractEventLoop, callback: Callable[..., None], *args: Any) -> None:
    with contextlib.suppress(RuntimeError):  # the loop has closed: nobody waits any more
        loop.call_soon_threadsafe(callback, *args)


class InProcessBackend:
    """Async tools on the event loop; sync tools in a bounded pool of threads.

    A thread cannot be interrupted: when a sync call times out or is cancelled, the executor
    stops waiting for it at once and tells the model it may still take effect; its thread runs
    on until the function returns, holding one worker of the pool, and the call keeps its
    resources until then. Tools that may hang are better async. Threads still running delay the
    interpreter's exit (it waits for them).
    """

    def __init__(self, *, max_threads: int = 32) -> None:
        if max_threads < 1:
            raise ValueError("max_threads must be >= 1")
        self.max_threads = max_threads
        self._pool: ThreadPoolExecutor | None = None
        self._in_threads = 0
        self._count_lock = threading.Lock()

    def start(self, tool: Tool[..., Any], kwargs: dict[str, Any]) -> Awaitable[Any]:
        """An async tool's own coroutine (no extra layer); a sync tool goes to the thread pool."""
        if tool.is_async:
            coroutine: Awaitable[Any] = tool.fn(**kwargs)
            return coroutine
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.max_threads, thread_name_prefix="volley-tool")
        with self._count_lock:
            queued = self._in_threads >= self.max_threads
            self._in_threads += 1
        return ThreadCall(self._pool, tool.fn, kwargs, queued=queued, on_end=self._count_down)

    def _count_down(self) -> None:
        with self._count_lock:  # from the worker thread that ended the body, or the loop
            self._in_threads -= 1

    def close(self) -> None:
        """Drop queued sync calls; threads already running finish in the background."""
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
            self._in_threads = 0
