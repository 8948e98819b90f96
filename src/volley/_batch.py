"""One batch of calls: submitted one by one, each started the moment nothing blocks it."""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import replace
from types import TracebackType
from typing import Any, TypeAlias

from . import _results as results
from ._access import NO_ACCESS, UNDECLARED
from ._call import ErrorKind, ToolCall, ToolResult
from ._entry import Entry, prepare, resolve_refs
from ._invoke import CallRunner
from ._placement import Placement
from ._progress import ProgressListener, listen
from ._stats import BatchStats, batch_stats
from ._tasks import makes_plain_tasks
from ._tool import Tool
from ._toolbox import Toolbox

__all__ = ["Batch", "BeforeStart"]

logger = logging.getLogger("volley")

BeforeStart: TypeAlias = Callable[[ToolCall, Tool[..., Any]], Awaitable[None] | None]
"""Told of a call just before its body starts; the body waits for what it returns."""


def _start_after_end(entry: Entry) -> None:
    raise RuntimeError(f"call {entry.call.id!r} was started after its batch had ended")


class Batch:
    """The calls of one model turn, run as their precedence graph allows.

    `submit` starts a call at once unless a dependency or a conflicting earlier call blocks it;
    `close` waits for every call and returns one result per call, in submission order. Use it as
    `async with executor.batch() as batch:` to close (or, on error, cancel) it on exit.

    `on_result` is called with each result the moment it exists (a UI shows calls finishing
    while others still run); it must not raise, and it must not submit to or close this batch.
    `on_progress` hears what calls report with `report_progress` while they run.
    """

    def __init__(
        self,
        toolbox: Toolbox,
        runner: CallRunner,
        *,
        dedupe: bool,
        on_close: Callable[[Batch], None] | None = None,
        on_result: Callable[[ToolResult], None] | None = None,
        on_progress: ProgressListener | None = None,
        before_start: BeforeStart | None = None,
    ) -> None:
        self._toolbox = toolbox
        self._runner = runner
        self._on_close = on_close
        self._on_result = on_result
        self._on_progress = on_progress
        self._before_start = before_start
        self._clock = runner.clock
        self._slots = runner.slots
        self._hedges = runner.hedge_budget()
        self._start_admitted = self._launch
        self._loop = loop = asyncio.get_running_loop()
        self._plain_tasks = makes_plain_tasks(loop)  # else the loop's create_task makes each task
        self._entries: list[Entry] = []
        self._placement = placement = Placement(dedupe=dedupe, fail=self._fail_now)
        # The graph's parts the hot path reads, without a hop through the placement.
        self._scheduler = placement.scheduler
        self._by_id = placement.by_id
        self._by_node = placement.by_node
        self._parking = placement.parking
        self._parked = placement.parking.missing
        self._unfinished = 0
        self._all_done = asyncio.Event()
        self._closed = False
        self._cancelled = False
        self._started_at = self._clock()
        self._ended_at: float | None = None

    # -- submitting -------------------------------------------------------------------------

    def submit(self, call: ToolCall) -> None:
        """Add a call; it starts now unless a dependency or a conflicting earlier call blocks it."""
        if self._closed:
            raise RuntimeError("this batch is closed; start a new one with executor.batch()")
        entry = Entry(call)
        self._entries.append(entry)
        self._unfinished += 1
        if (first := self._by_id.setdefault(call.id, entry)) is not entry:
            self._finish(entry, results.duplicate_id(call, self._entries.index(first) + 1))
            return
        try:  # in line, not a method of its own: the path every call takes
            problem = prepare(entry, self._toolbox)
            access = entry.access
            if problem is not None:
                self._fail_now(entry, *problem)
            elif (
                entry.needs
                or (access is not NO_ACCESS and access is not UNDECLARED)
                or (node := self._scheduler.add_free(access is UNDECLARED)) < 0  # a barrier
            ):
                # It may start later, from the task of a call that ended: it must not run in
                # that call's context (what its tool set there), but in the one it was
                # submitted from.
                entry.context = contextvars.copy_context()
                self._placement.place(entry)
            else:
                # Depends on nothing and nothing it holds is held against it: it may start now,
                # whatever else runs, and registering it makes nothing else ready (unless a
                # parked call was waiting for it).
                entry.node = node
                self._by_node.append(entry)
                if self._slots.take_or_queue(entry, self._start_admitted):  # `_admit` in line
                    name = f"volley:{call.id}"
                    if self._plain_tasks:  # and `_launch`
                        entry.task = asyncio.Task(self._run(entry), name=name)
                    else:
                        entry.task = self._loop.create_task(self._run(entry), name=name)
                else:
                    entry.queued = True
                    entry.context = contextvars.copy_context()
                if not self._parked:
                    return
                self._placement.registered_free(entry)
            self._placement.unpark()
            self._dispatch()
        except Exception as exc:  # a tool's own validator or key function, or a bug of ours:
            if entry.result is None and entry.task is None:  # the call is answered all the same
                self._fail_now(entry, *results.unprepared(call.name, exc))
                self._placement.unpark()
                self._dispatch()
            if not isinstance(exc, ValueError | TypeError | RecursionError):
                logger.exception("volley could not place call %r", call.id)

    def answer(self, call: ToolCall, result: ToolResult, *, tell: bool = True) -> None:
        """Give a call its result without running it; calls that need it see it as any other.

        For a call answered before it could run (a step of a plan that may not run), or before
        this batch (a result recorded in a journal, which a call resumed now refers to). An error
        result fails the calls that depend on it. `tell=False` keeps it from `on_result`.
        """
        if self._closed:
            raise RuntimeError("this batch is closed; start a new one with executor.batch()")
        if call.id in self._by_id:
            self.submit(call)  # answered as any call whose id is taken
            return
        entry = Entry(call)
        self._entries.append(entry)
        self._unfinished += 1
        self._by_id[call.id] = entry
        self._placement.add_node(entry, after=[])
        on_result = self._on_result
        if not tell:
            self._on_result = None
        try:
            self._finish(entry, replace(result, call_id=call.id))
        finally:
            self._on_result = on_result
        self._placement.unpark()
        self._dispatch()

    def submit_many(self, calls: Iterable[ToolCall]) -> None:
        """Submit calls known together; a dependency cycle among them is found as a whole.

        Nothing starts running before this returns (it does not yield to the event loop).
        """
        placement = self._placement
        placement.deferring_cycles = True
        try:
            for call in calls:
                self.submit(call)
        finally:
            placement.deferring_cycles = False
        placement.fail_cycles(self._parking.cycles())
        placement.unpark()
        self._dispatch()

    def _fail_now(self, entry: Entry, kind: ErrorKind, message: str) -> None:
        """Give an entry that will never run its error result, and release what waits for it."""
        if entry.node < 0:
            self._placement.add_node(entry, after=[])
        self._finish(entry, results.error_result(entry.call, kind, message))

    # -- running ------------------------------------------------------------------------------

    def _dispatch(self) -> None:
        """Start every call whose predecessors have all ended."""
        while ready := self._scheduler.ready():
            for node in ready:
                entry = self._by_node[node]
                if entry.result is None:
                    self._start(entry)

    def _start(self, entry: Entry) -> None:
        call = entry.call
        original = entry.original
        if original is None:
            failed = self._scheduler.failed_dependency(entry.node)
            if failed is not None:
                failed_entry = self._by_node[failed]
                assert failed_entry.result is not None
                self._finish(
                    entry, results.dependency_failed(call, failed_entry.call, failed_entry.result)
                )
                return
        if entry.cancel_requested or self._cancelled:
            self._finish(entry, results.cancelled(call, "before it started"))
            return
        if original is not None:
            shared = original.result
            assert shared is not None
            if shared.error_kind is not ErrorKind.CANCELLED:
                self._finish(entry, results.shared(call, shared))
                return
            # The original alone was cancelled: this call was never named, so it runs itself.
        self._admit(entry)

    def _admit(self, entry: Entry) -> None:
        """Start the call now if the concurrency limits allow, else queue it (with no task)."""
        if self._slots.take_or_queue(entry, self._start_admitted):
            self._launch(entry)
        else:
            entry.queued = True
            if entry.context is None:  # started later, by whichever call frees a slot
                entry.context = contextvars.copy_context()

    def _launch(self, entry: Entry) -> None:
        """Make the call's task, in the context it was submitted from if it has one."""
        name = f"volley:{entry.call.id}"  # cheaper than asyncio's own "Task-N", and says more
        if self._plain_tasks:
            entry.task = asyncio.Task(self._run(entry), context=entry.context, name=name)
        else:
            entry.task = self._loop.create_task(self._run(entry), context=entry.context, name=name)

    async def _run(self, entry: Entry) -> None:
        """The task of one admitted call: run it, record its result, release what it held."""
        entry.started_at = started = self._clock()
        if entry.cancel_requested or self._cancelled:  # cancelled before this task's first step
            self._slots.release(entry.tool)
            self._finish(entry, results.cancelled(entry.call, "before it started"))
            self._dispatch()
            return
        if self._on_progress is not None:
            listen(entry.call, self._on_progress)
        try:
            if self._before_start is not None and (refused := await self._announce(entry)):
                result = refused
            elif entry.kwargs is not None:
                outcome = self._runner.begin(
                    entry.call,
                    entry.tool,  # type: ignore[arg-type]
                    entry.kwargs,
                    started,
                    entry.access,
                    self._hedges,
                )
                result = outcome if isinstance(outcome, ToolResult) else await outcome
            else:
                result = await self._execute(entry, started)
        except asyncio.CancelledError as exc:
            self._slots.release(entry.tool)
            task = asyncio.current_task()
            assert task is not None
            ended = self._clock()
            why = "while it was running"
            if isinstance(exc, results.CancelledInThread):
                why += "; its function goes on in its thread and may yet take effect"
            self._finish(
                entry, results.cancelled(entry.call, why, started_at=started, ended_at=ended)
            )
            self._dispatch()
            if entry.cancel_requested or self._cancelled:  # ours: swallow it
                while task.cancelling():
                    task.uncancel()
                # Its traceback holds this frame, so the batch: where a retry kept it (in
                # tenacity's attempt state, which the traceback's frames hold), it is a cycle.
                exc.__traceback__ = None
            elif task.cancelling():  # someone else's (the loop shutting down): pass it on
                raise
            return
        except BaseException as exc:  # KeyboardInterrupt, SystemExit: answer the call, then go
            self._slots.release(entry.tool)
            self._finish(entry, results.interrupted(entry.call, exc))
            raise
        self._slots.release(entry.tool)
        if self._finish(entry, result):
            self._dispatch()

    async def _announce(self, entry: Entry) -> ToolResult | None:
        """Tell `before_start` the call is starting; if that fails, the body does not run."""
        assert self._before_start is not None
        assert entry.tool is not None
        try:
            pending = self._before_start(entry.call, entry.tool)
            if pending is not None:
                await pending
        except Exception as exc:
            logger.exception("before_start failed for call %r", entry.call.id)
            # Logged whole; the result keeps the exception without the frames, which would
            # hold this call's entry and batch (a reference cycle through its result).
            exc.__traceback__ = exc.__context__ = exc.__cause__ = None
            return results.not_recorded(entry.call, exc)
        return None

    async def _execute(self, entry: Entry, started: float) -> ToolResult:
        """Run a call whose arguments take other calls' results (`$ref`)."""
        values = {ref: self._by_id[ref].result.value for ref in entry.refs}  # type: ignore[union-attr]
        kwargs = resolve_refs(entry, values)
        if isinstance(kwargs, ToolResult):
            return kwargs
        assert entry.tool is not None
        return await self._runner.run(
            entry.call, entry.tool, kwargs, started, entry.access, self._hedges
        )

    def _finish(self, entry: Entry, result: ToolResult) -> bool:
        """Record the entry's result; returns whether calls waited for it (may start now)."""
        entry.result = result
        # An ended call lets go of its task, keys and arguments (unless a later read is to be
        # compared with them): in a batch of thousands, what stays alive is what the collector
        # walks again and again.
        entry.task = entry.context = None
        entry.access = NO_ACCESS
        if not entry.keeps_arguments:
            entry.kwargs = None
        released = entry.node >= 0 and self._scheduler.finish(entry.node, not result.is_error)
        self._unfinished -= 1
        if self._unfinished == 0:
            self._ended_at = self._clock()
            if self._closed:
                self._all_done.set()
        if self._on_result is not None:
            try:
                self._on_result(result)
            except Exception:  # a listener's bug must not cost a call its answer
                logger.exception("on_result raised for call %r", result.call_id)
        return released

    # -- ending -------------------------------------------------------------------------------

    def cancel(self, *call_ids: str) -> None:
        """Cancel the named calls, or every unfinished call if none are named.

        A cancelled call gets a `cancelled` result; calls that depend on it get
        `dependency_failed`. Calls that were waiting their turn are cancelled when it comes.
        """
        if not call_ids:
            self._cancelled = True
            targets = [e for e in self._entries if e.result is None]
        else:
            named = (self._by_id.get(i) for i in dict.fromkeys(call_ids))
            targets = [e for e in named if e is not None]
        for entry in targets:
            if entry.result is not None:  # ended already, or just now by an earlier target
                continue
            entry.cancel_requested = True
            if entry.started_at is not None and entry.task is not None and not entry.task.done():
                entry.task.cancel()
            # A task that has not taken its first step sees `cancel_requested` when it does: a
            # cancel now would throw into a coroutine that never ran, and the call would have
            # no result.
            elif entry.queued and entry.task is None:
                # Waiting for a free slot: it holds none, so it can end now.
                self._finish(
                    entry, results.cancelled(entry.call, "while it waited for a free slot")
                )
        for entry in self._parking:
            if entry.cancel_requested:
                self._parking.remove(entry)
                self._fail_now(entry, *results.cancelled_waiting())
        self._placement.unpark()
        self._dispatch()

    async def close(self) -> list[ToolResult]:
        """Wait for every call; return one result per call, in submission order.

        If this wait is cancelled, every call still in flight is cancelled and awaited, so no
        task is left behind, and the cancellation propagates.
        """
        if not self._closed:
            self._closed = True
            self._fail_missing_dependencies()
            if self._unfinished == 0:
                self._all_done.set()
        try:
            await self._all_done.wait()
        except BaseException:
            self.cancel()
            await self._drain()
            raise
        finally:
            if self._on_close is not None:
                self._on_close(self)
            if not self._unfinished:  # ended: break the cycles through its bound methods, so
                # that it is freed when its caller drops it, not at the collector's next full
                # pass (which walks every entry until then)
                self._start_admitted = _start_after_end
                self._placement.let_go()
        return self.results

    def _fail_missing_dependencies(self) -> None:
        """At close: calls still parked wait for ids that never came (or for each other)."""
        for entry in self._parking:
            missing = [n for n in entry.needs if n not in self._by_id]
            if not missing or entry not in self._parking:
                continue
            self._parking.remove(entry)
            self._fail_now(entry, *results.missing_dependencies(entry.call, missing))
            self._placement.unpark()
        self._placement.fail_cycles(self._parking.cycles())
        self._placement.unpark()
        self._dispatch()

    async def _drain(self) -> None:
        while pending := [e.task for e in self._entries if e.task and not e.task.done()]:
            try:
                await asyncio.wait(pending)
            except asyncio.CancelledError:
                for task in pending:
                    task.cancel()

    async def __aenter__(self) -> Batch:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is not None:
            self.cancel()
        await self.close()

    # -- what it did -------------------------------------------------------------------------

    @property
    def done(self) -> bool:
        """Whether every submitted call has its result."""
        return self._unfinished == 0

    @property
    def results(self) -> list[ToolResult]:
        """One result per call, in submission order; only once every call has ended."""
        if self._unfinished:
            raise RuntimeError(f"{self._unfinished} calls of this batch have not ended yet")
        return [e.result for e in self._entries if e.result is not None]

    def result(self, call_id: str) -> ToolResult | None:
        """The result of one call, once it has ended."""
        entry = self._by_id.get(call_id)
        return entry.result if entry is not None else None

    @property
    def stats(self) -> BatchStats:
        """Figures of the batch: wall time, busy time, parallelism, critical path."""
        if self._unfinished:
            raise RuntimeError("the batch's figures are known once every call has ended")
        entries = [*self._by_node, *(e for e in self._entries if e.node < 0)]  # graph order
        results = [e.result for e in entries if e.result is not None]
        waits = [self._scheduler.predecessors(e.node) if e.node >= 0 else () for e in entries]
        ended = self._ended_at if self._ended_at is not None else self._clock()
        return batch_stats(results, waits, started_at=self._started_at, ended_at=ended)
