"""Where a call body runs. The executor decides when; a backend only runs what it is given."""

from __future__ import annotations

import asyncio
import contextvars
import time
from collections.abc import Awaitable, Callable, Coroutine, Generator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

from ._errors import ConfigurationError
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
    when it did, so the executor keeps the call's resources held until then. `started_at` says
    when a worker took it up, for a timeout that counts from then, not from the pool's queue.

    No lock: the worker and the loop each append to `_claim` (atomic under the GIL), and
    whoever appended first decides whether the body runs.
    """

    __slots__ = (
        "_callbacks",
        "_claim",
        "_future",
        "_loop",
        "_waiter",
        "started_at",
    )

    def __init__(
        self,
        pool: ThreadPoolExecutor,
        fn: Callable[..., Any],
        kwargs: dict[str, Any],
    ) -> None:
        loop = self._loop = asyncio.get_running_loop()
        self._claim: list[str] = []
        self._callbacks: list[Callable[[], None]] = []
        self._waiter: asyncio.Future[Any] | None = None
        self.started_at: float | None = None
        """When a worker began the function (`time.monotonic()`), or `None` if none has yet."""
        context = contextvars.copy_context()
        # Never awaited directly, so never cancelled: it ends when the worker is done with it.
        self._future = loop.run_in_executor(pool, context.run, self._run, fn, kwargs)
        self._future.add_done_callback(self._settled)

    def _run(self, fn: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
        claim = self._claim
        claim.append(_RUN)
        if claim[0] is not _RUN:  # abandoned while it waited for this worker
            return None
        self.started_at = time.monotonic()
        return fn(**kwargs)

    def _settled(self, done: asyncio.Future[Any]) -> None:
        if self._waiter is not None:
            _relay(self._waiter, done)
        callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            callback()

    def abandon(self) -> bool:
        """Make sure a body that has not started never does; False if it has started."""
        claim = self._claim
        claim.append(_ABANDON)
        return claim[0] is _ABANDON

    @property
    def running(self) -> bool:
        """Whether a worker took the body up and is not done with it yet."""
        return bool(self._claim) and self._claim[0] is _RUN and not self._future.done()

    def when_returned(self, callback: Callable[[], None]) -> None:
        """Call `callback` (on the loop) once the worker is done with the body."""
        if self._future.done():
            callback()
        else:
            self._callbacks.append(callback)

    def __await__(self) -> Generator[Any, None, Any]:
        # A waiter of its own, so that cancelling the wait leaves the body's future alone.
        waiter = self._waiter = self._loop.create_future()
        if self._future.done():
            _relay(waiter, self._future)
        value = yield from waiter.__await__()
        if isinstance(value, Coroutine):  # a sync function that returned a coroutine
            value = yield from value.__await__()
        return value


_RUN, _ABANDON = "run", "abandon"


def _relay(waiter: asyncio.Future[Any], done: asyncio.Future[Any]) -> None:
    if waiter.done():
        return
    if done.cancelled():
        waiter.cancel()
    elif (exc := done.exception()) is not None:
        waiter.set_exception(exc)
    else:
        waiter.set_result(done.result())


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
            raise ConfigurationError("max_threads must be >= 1")
        self.max_threads = max_threads
        """Threads for sync tools: a sync call holds one while it runs."""
        self._pool: ThreadPoolExecutor | None = None

    def start(self, tool: Tool[..., Any], kwargs: dict[str, Any]) -> Awaitable[Any]:
        """An async tool's own coroutine (no extra layer); a sync tool goes to the thread pool."""
        if tool.is_async:
            coroutine: Awaitable[Any] = tool.fn(**kwargs)
            return coroutine
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.max_threads, thread_name_prefix="volley-tool")
        return ThreadCall(self._pool, tool.fn, kwargs)

    def close(self) -> None:
        """Drop queued sync calls; threads already running finish in the background."""
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
