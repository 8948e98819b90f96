"""Reading a trace file back into a `Trace`, strict about garbage, lenient about a cut ending.

A run that crashed leaves a file whose last line may be half written and whose run never
finished: both are normal and reported in the `Trace`. Anything else that does not fit the
format (a line that is not JSON, a missing field, records out of order) is an error naming the
line, since drawing a guess would be worse than saying the file is not what it claims to be.
"""

from __future__ import annotations

import json
from collections import defaultdict, deque
from dataclasses import replace
from os import PathLike
from pathlib import Path
from typing import Any

from .._stats import RunStats
from ._format import (
    FORMAT_VERSION,
    Fields,
    TraceError,
    call_from_record,
    turn_stats_from_record,
)
from ._model import Trace, TraceCall, TraceTurn

__all__ = ["load_trace"]


def load_trace(path: str | PathLike[str]) -> Trace:
    """Read the trace file at `path`.

    Raises:
        TraceError: the file is not a volley trace, or a line (named) is not valid.
        OSError: the file cannot be read.
    """
    path = Path(path)
    data = path.read_bytes()
    lines = data.split(b"\n")
    last = lines.pop()  # b"" when the file ends with a newline, as a complete trace does
    records: list[tuple[int, dict[str, Any]]] = []
    for number, line in enumerate(lines, 1):
        if line.strip():
            records.append((number, _parse(line, f"{path}, line {number}")))
    truncated = False
    if last.strip():
        try:
            records.append((len(lines) + 1, _parse(last, "")))
        except TraceError:
            truncated = True  # the writer died mid-line
    if not records:
        raise TraceError(f"{path}: not a volley trace (no complete line)")
    builder = _Builder(path)
    for number, record in records:
        builder.add(Fields(record, f"{path}, line {number}"))
    return builder.trace(truncated)


def _parse(line: bytes, where: str) -> dict[str, Any]:
    try:
        record = json.loads(line.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise TraceError(f"{where}: not UTF-8 text ({exc.reason})") from exc
    except json.JSONDecodeError as exc:
        raise TraceError(f"{where}: not JSON ({exc.msg}, column {exc.colno})") from exc
    if not isinstance(record, dict) or not isinstance(record.get("type"), str):
        raise TraceError(f"{where}: not a trace record (a JSON object with a 'type')")
    return record


class _Builder:
    """Turns the records, in file order, into turns: calls wait for their turn's end."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.header: Fields | None = None
        self.turns: list[TraceTurn] = []
        self.calls: list[tuple[int, int, TraceCall]] = []
        """(attempt, order, call) of the turn in progress."""
        self.retry_errors: list[str] = []
        self.stats: RunStats | None = None
        self.output: str | None = None
        self.start: Fields | None = None
        self.failed: Fields | None = None

    @property
    def turn(self) -> int:
        """The turn in progress."""
        return len(self.turns) + 1

    def add(self, fields: Fields) -> None:
        kind = fields.text("type")
        if self.header is None:
            if kind != "trace":
                raise fields.error("not a volley trace (the first record is not a 'trace' header)")
            version = fields.integer("version")
            if version > FORMAT_VERSION:
                raise fields.error(
                    f"written in trace format {version}, by a newer volley; this one reads up "
                    f"to format {FORMAT_VERSION}"
                )
            fields.object("meta")
            fields.opt_number("wall_start")
            self.header = fields
            return
        if self.stats is not None or self.failed is not None:
            raise fields.error(f"a {kind!r} record after the run's end")
        if kind == "start":
            if self.start is not None or self.turns or self.calls or self.retry_errors:
                raise fields.error("a 'start' record after the run had started")
            self.start = fields
            self._check(fields, prompt=str, model=str, at=float)
        elif kind == "call":
            self._call(fields)
        elif kind == "retry":
            self._of_this_turn(fields, "retry")
            if fields.integer("attempt") != len(self.retry_errors):
                raise fields.error(f"retry of attempt {fields.integer('attempt')} out of order")
            self.retry_errors.append(fields.text("error"))
        elif kind == "turn":
            self._of_this_turn(fields, "turn")
            self._turn(fields)
        elif kind == "end":
            if self.calls or self.retry_errors:
                raise fields.error(f"the run ended while turn {self.turn} was still going")
            self.output = fields.text("output")
            stats = tuple(t.stats for t in self.turns if t.stats is not None)
            self.stats = RunStats(stats, fields.number("wall_time"))
        elif kind == "failed":
            self.failed = fields
            self._check(fields, error=str, at=float)
        elif kind == "trace":
            raise fields.error("a second 'trace' header (two traces in one file?)")
        else:
            raise fields.error(f"unknown record type {kind!r}")

    @staticmethod
    def _check(fields: Fields, **types: type) -> None:
        """Fail now (naming the line) if a field read later would not be of its type."""
        for key, kind in types.items():
            if kind is str:
                fields.text(key)
            else:
                fields.number(key)

    def _of_this_turn(self, fields: Fields, what: str) -> None:
        turn = fields.integer("turn")
        if turn != self.turn:
            raise fields.error(f"{what} record of turn {turn} while turn {self.turn} is going")

    def _call(self, fields: Fields) -> None:
        self._of_this_turn(fields, "call")
        call, attempt, order = call_from_record(fields)
        if attempt != len(self.retry_errors):
            raise fields.error(
                f"call of attempt {attempt} while attempt {len(self.retry_errors)} is going"
            )
        self.calls.append((attempt, order, call))

    def _turn(self, fields: Fields) -> None:
        stats = turn_stats_from_record(fields)
        current, discarded = self._split()
        # The message's order is the timeline's; it also says when each call's arguments were
        # complete, which the call records could not know yet.
        waiting: defaultdict[str, deque[TraceCall]] = defaultdict(deque)
        for call in current:
            waiting[call.id].append(call)
        calls = []
        for timing in stats.timeline:
            if not waiting[timing.call_id]:
                raise fields.error(f"the timeline has call {timing.call_id!r}, never recorded")
            call = waiting[timing.call_id].popleft()
            calls.append(replace(call, arguments_done=timing.arguments_done))
        strays = [c.id for queue in waiting.values() for c in queue]
        if strays:
            raise fields.error(f"calls {strays} were recorded but are not in the turn's timeline")
        self.turns.append(
            TraceTurn(
                index=stats.index,
                calls=tuple(calls),
                stats=stats,
                text=fields.text("text"),
                discarded=discarded,
                retry_errors=tuple(self.retry_errors),
            )
        )
        self.calls, self.retry_errors = [], []

    def _split(self) -> tuple[list[TraceCall], tuple[TraceCall, ...]]:
        """The calls of the attempt in progress, and those of broken ones, each in order."""
        ordered = sorted(self.calls, key=lambda item: (item[0], item[1]))
        attempt = len(self.retry_errors)
        current = [call for a, _, call in ordered if a == attempt]
        return current, tuple(call for a, _, call in ordered if a < attempt)

    def trace(self, truncated: bool) -> Trace:
        assert self.header is not None
        turns = list(self.turns)
        if self.calls or self.retry_errors:  # a turn that never finished
            current, discarded = self._split()
            turns.append(
                TraceTurn(
                    index=self.turn,
                    calls=tuple(current),
                    stats=None,
                    discarded=discarded,
                    retry_errors=tuple(self.retry_errors),
                )
            )
        meta = dict(self.header.record["meta"])
        if self.start is not None:  # what the recorder was told wins
            meta = {"prompt": self.start.text("prompt"), "model": self.start.text("model")} | meta
        return Trace(
            turns=tuple(turns),
            meta=meta,
            wall_start=self.header.opt_number("wall_start"),
            started_at=None if self.start is None else self.start.number("at"),
            stats=self.stats,
            output=self.output,
            error=None if self.failed is None else self.failed.text("error"),
            failed_at=None if self.failed is None else self.failed.number("at"),
            truncated=truncated,
        )
