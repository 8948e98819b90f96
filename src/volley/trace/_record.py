"""Recording a run to a trace file as it happens, one JSON line per event worth keeping.

Each line is flushed when written, so a run that crashes, hangs or is killed leaves a file whose
lines so far are readable: the calls that finished, the turns that ended. Text deltas are not
kept (the turn's line has the whole text).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections import defaultdict, deque
from collections.abc import Mapping
from os import PathLike
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from .._call import ErrorKind
from .._events import (
    CallFinished,
    CallProgress,
    CallStarted,
    RunEvent,
    RunFailed,
    RunFinished,
    RunStarted,
    TurnFinished,
    TurnRetried,
)
from ._cap import CONTENT_LIMIT, cap, capped_arguments
from ._format import (
    call_record,
    dumps,
    end_record,
    failed_record,
    header_record,
    retry_record,
    start_record,
    turn_record,
)
from ._model import MAX_PROGRESS, TraceCall, TraceProgress

__all__ = ["TraceRecorder", "describe"]

logger = logging.getLogger("volley")


def describe(error: BaseException) -> str:
    """An exception as a trace tells it: `IncompleteTurn: turn 2 could not be used: ...`."""
    message = str(error)
    return f"{type(error).__name__}: {message}" if message else type(error).__name__


_OF_A_TURN = (CallStarted, CallFinished, CallProgress, TurnRetried, TurnFinished)
"""Events that name their turn."""


class TraceRecorder:
    """An agent observer that writes one run's trace: `Agent(..., observers=[recorder])`.

    The header (format version, `meta`, the wall-clock time) is written at once, so even a run
    that dies before its first event leaves a valid trace. One recorder records one run: when
    the run ends (`RunFinished`, or `RunFailed` if it raised) the file is closed, and later
    events are ignored with a warning. Use it as a context manager (or call `close()`) to close
    the file of a run that never ended; every line is on disk as soon as it is written anyway.

    Like every observer it never raises into the run: if the file cannot be written, it logs
    the error once and stops recording.

    Args:
        path: the file to write (replaced if it exists).
        meta: what the run is, for whoever reads the trace: model, prompt, tools... (JSON values;
            anything else is written as its `repr`).
        max_content: characters kept of each result, argument text and message.
    """

    def __init__(
        self,
        path: str | PathLike[str],
        meta: Mapping[str, Any] | None = None,
        *,
        max_content: int = CONTENT_LIMIT,
    ) -> None:
        self.path = Path(path)
        """The trace file."""
        self.max_content = max_content
        """Characters kept of each result, argument text and message."""
        self._file: IO[str] | None = self.path.open("w", encoding="utf-8")
        self._ignored = False
        self._turn = 0
        self._attempt = 0
        self._order = 0
        self._started: defaultdict[str, deque[tuple[int, CallStarted]]] = defaultdict(deque)
        self._owners: dict[str, int] = {}
        """The order of the first call of each id in this attempt: the one a batch runs."""
        self._progress: defaultdict[str, list[TraceProgress]] = defaultdict(list)
        self._write(header_record(dict(meta or {}), time.time()))

    @property
    def closed(self) -> bool:
        """Whether the file is closed (the run ended, `close()` was called, or writing failed)."""
        return self._file is None

    def __call__(self, event: RunEvent) -> None:
        """Record `event` if it is worth keeping."""
        if self._file is None:
            if not self._ignored:
                self._ignored = True
                logger.warning("trace %s is closed: one recorder records one run", self.path)
            return
        if isinstance(
            event, CallStarted | CallFinished | CallProgress | TurnRetried | TurnFinished
        ):
            self._enter(event.turn)
        if isinstance(event, CallStarted):
            self._owners.setdefault(event.call.id, self._order)
            self._started[event.call.id].append((self._order, event))
            self._order += 1
        elif isinstance(event, CallFinished):
            self._call_finished(event)
        elif isinstance(event, CallProgress):
            reports = self._progress[event.call_id]
            report = TraceProgress(event.at, event.progress, event.total, event.message)
            if len(reports) >= MAX_PROGRESS:
                reports[-1] = report  # the first ones, and the latest
            else:
                reports.append(report)
        elif isinstance(event, TurnRetried):
            self._write(retry_record(event.turn, self._attempt, event.error))
            self._attempt += 1
            self._order = 0
            self._started.clear()
            self._owners.clear()
            self._progress.clear()
        elif isinstance(event, TurnFinished):
            self._write(turn_record(event.stats, cap(event.message.text, self.max_content)))
        elif isinstance(event, RunStarted):
            prompt = cap(event.prompt, self.max_content)
            self._write(start_record(prompt, event.model, event.at))
        elif isinstance(event, RunFinished):
            result = event.result
            self._write(end_record(result.stats, cap(result.output, self.max_content)))
            self.close()
        elif isinstance(event, RunFailed):
            self._write(failed_record(cap(describe(event.error), self.max_content), event.at))
            self.close()

    def close(self) -> None:
        """Close the file; the trace then reads as a run that never finished, unless it did."""
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> TraceRecorder:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _enter(self, turn: int) -> None:
        """Events of a new turn start its count of attempts and of calls handed over."""
        if turn != self._turn:
            self._turn = turn
            self._attempt = 0
            self._order = 0
            self._started.clear()
            self._owners.clear()
            self._progress.clear()

    def _call_finished(self, event: CallFinished) -> None:
        result = event.result
        queue = self._started.get(result.call_id)
        if queue:
            order, started = self._match(queue, result.error_kind == ErrorKind.DUPLICATE_ID)
            arguments = capped_arguments(started.call.arguments, self.max_content)
            early, dispatched, after = started.early, started.at, started.call.depends_on
        else:  # never announced (not something the agent does): keep what the result says
            order, arguments, early, after = self._order, {}, False, ()
            self._order += 1
            dispatched = next(
                (t for t in (result.started_at, result.ended_at) if t is not None), 0.0
            )
        call = TraceCall(
            turn=event.turn,
            id=result.call_id,
            name=result.name,
            arguments=arguments,
            early=early,
            arguments_done=dispatched,
            started=result.started_at,
            ended=result.ended_at,
            is_error=result.is_error,
            error_kind=None if result.error_kind is None else str(result.error_kind),
            content=cap(result.content, self.max_content),
            duplicate_of=result.duplicate_of,
            attempts=result.attempts,
            progress=tuple(self._progress.pop(result.call_id, ())),
            hedges=result.hedges,
            after=after,
        )
        self._write(call_record(call, attempt=self._attempt, order=order))

    def _match(
        self, queue: deque[tuple[int, CallStarted]], duplicate: bool
    ) -> tuple[int, CallStarted]:
        """The started call a result answers, among those of its id (ids may repeat).

        A batch runs the first call of an id and answers the later ones at once with
        `duplicate_id`, often before the first ends: such a result is a later call's.
        """
        owner = self._owners.get(queue[0][1].call.id)
        if duplicate:
            for k, (order, _) in enumerate(queue):
                if order != owner:
                    item = queue[k]
                    del queue[k]
                    return item
        return queue.popleft()

    def _write(self, record: Mapping[str, Any]) -> None:
        if self._file is None:
            return
        try:
            self._file.write(dumps(record) + "\n")
            self._file.flush()
        except (OSError, ValueError) as exc:
            logger.error("cannot write the trace %s, recording stopped: %s", self.path, exc)
            self._ignored = True  # the error said it all
            file, self._file = self._file, None
            with contextlib.suppress(OSError, ValueError):
                file.close()
