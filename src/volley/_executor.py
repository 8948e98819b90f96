"""The executor: runs batches of tool calls under one set of limits and one thread pool."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any

from tenacity.wait import wait_base

from ._backend import Backend, InProcessBackend
from ._batch import Batch, BeforeStart
from ._call import ToolCall, ToolResult
from ._content import DEFAULT_MAX_CHARS
from ._deadlines import loop_clock
from ._errors import ConfigurationError
from ._invoke import CallRunner
from ._progress import ProgressListener
from ._tool import Tool
from ._toolbox import Toolbox

__all__ = ["Executor"]


class Executor:
    """Runs a turn's tool calls at once where that is safe, in order where it is not.

    Use it as an async context manager; it owns the concurrency limits and the thread pool for
    sync tools, shared by every batch it runs::

        async with Executor(toolbox) as ex:
            results = await ex.run(calls)

    Args:
        tools: a `Toolbox`, or tools (or plain functions) to make one of.
        max_concurrency: calls running at once, across all batches of this executor.
        max_threads: threads for sync tools (a sync call holds one while it runs).
        timeout: seconds per attempt for tools that set none; `None` for no limit.
        max_content_chars: longer results are cut, with a note saying so.
        dedupe: identical calls of a read-only tool in one batch run once and share the result.
        retry_wait: the tenacity wait strategy between retries (default: exponential with jitter).
        clock: where timestamps come from (default: the event loop's monotonic clock).
        backend: where call bodies run (default: in this process); one given is not closed
            with the executor (it may serve others): close it yourself.
        max_hedges: second attempts each batch may start for tools that hedge (`hedge_after`):
            when a whole service slows down, every call passes its delay at once, and the cap
            keeps hedging from doubling the load on it. 0 turns hedging off.
    """

    def __init__(
        self,
        tools: Toolbox | Iterable[Tool[..., Any] | Callable[..., Any]],
        *,
        max_concurrency: int = 64,
        max_threads: int = 32,
        timeout: float | None = 60.0,
        max_content_chars: int = DEFAULT_MAX_CHARS,
        dedupe: bool = True,
        retry_wait: wait_base | None = None,
        clock: Callable[[], float] | None = None,
        backend: Backend | None = None,
        max_hedges: int = 4,
    ) -> None:
        if max_concurrency < 1:
            raise ConfigurationError("max_concurrency must be >= 1")
        if timeout is not None and timeout <= 0:
            raise ConfigurationError("timeout must be > 0 seconds, or None")
        if max_content_chars < 1:
            raise ConfigurationError("max_content_chars must be >= 1")
        if max_hedges < 0:
            raise ConfigurationError("max_hedges must be >= 0")
        self.toolbox = tools if isinstance(tools, Toolbox) else Toolbox(tools)
        """The tools its batches call (an agent swaps it when its sources' tools change)."""
        self.max_concurrency = max_concurrency
        """Calls running at once, across its batches."""
        self.timeout = timeout
        """Seconds per attempt for tools that set no timeout (`None`: no limit)."""
        self.max_content_chars = max_content_chars
        """Longer results are cut to this, saying so."""
        self.dedupe = dedupe
        """Whether identical reads of a batch run once and share their result."""
        self.max_hedges = max_hedges
        """Second attempts each batch may start for tools that hedge."""
        self._retry_wait = retry_wait
        self._clock = clock
        self._backend: Backend = backend or InProcessBackend(max_threads=max_threads)
        self._owns_backend = backend is None  # one given is shared (by an agent's runs): kept
        self._runner: CallRunner | None = None
        self._open_batches: set[Batch] = set()

    async def __aenter__(self) -> Executor:
        if self._runner is not None:
            raise RuntimeError("this executor is already running")
        self._runner = CallRunner(
            self._backend,
            max_concurrency=self.max_concurrency,
            timeout=self.timeout,
            max_content_chars=self.max_content_chars,
            retry_wait=self._retry_wait,
            clock=self._clock or loop_clock(asyncio.get_running_loop()),
            max_hedges=self.max_hedges,
        )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            for batch in list(self._open_batches):
                batch.cancel()
                await batch.close()
        finally:
            if self._runner is not None:
                self._runner.close()
            if self._owns_backend:
                self._backend.close()
            self._runner = None

    def batch(
        self,
        *,
        on_result: Callable[[ToolResult], None] | None = None,
        on_progress: ProgressListener | None = None,
        before_start: BeforeStart | None = None,
    ) -> Batch:
        """Start a batch to submit calls to one by one (as a model streams them).

        `on_result` hears of each result the moment it exists, before the batch closes;
        `on_progress` hears what its calls report (`volley.report_progress`) as they run;
        `before_start` is told of each call just before its body starts, in the call's own
        task, and the body waits for what it returns (a journal's record reaching the disk).
        """
        if self._runner is None:
            raise RuntimeError("use the executor as `async with Executor(...) as ex:` first")
        batch = Batch(
            self.toolbox,
            self._runner,
            dedupe=self.dedupe,
            on_close=self._open_batches.discard,
            on_result=on_result,
            on_progress=on_progress,
            before_start=before_start,
        )
        self._open_batches.add(batch)
        return batch

    async def run(self, calls: Iterable[ToolCall]) -> list[ToolResult]:
        """Run calls as one batch; one result per call, in the order of `calls`.

        Calls may be listed in any order of their dependencies; a cycle is found before anything
        runs, and the calls on it get `dependency_cycle` results naming it.
        """
        batch = self.batch()
        batch.submit_many(calls)
        return await batch.close()
