"""The trace file's records, both ways: what each JSON line holds and how it is read back.

Writing and reading live side by side so that they cannot drift apart. Every field a reader
needs is checked with a message naming the line, because a trace is often the only evidence of
a run that went wrong, and "KeyError: 'ended'" would not help anyone read it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from .._errors import VolleyError
from .._stats import BatchStats, CallTiming, RunStats, TurnStats
from ._model import TraceCall, TraceProgress

__all__ = [
    "FORMAT_VERSION",
    "Fields",
    "TraceError",
    "call_from_record",
    "call_record",
    "dumps",
    "end_record",
    "failed_record",
    "header_record",
    "retry_record",
    "start_record",
    "turn_record",
    "turn_stats_from_record",
]

FORMAT_VERSION = 1
"""Bumped whenever a reader of the previous version would misread a new file."""


class TraceError(VolleyError, ValueError):
    """A trace file that cannot be read: the message names the file, the line and the problem."""


def dumps(record: Mapping[str, Any]) -> str:
    """One record as one line of JSON (no newline)."""
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"), default=repr)


def header_record(meta: Mapping[str, Any], wall_start: float) -> dict[str, Any]:
    """The first line: which format, when (Unix time), and what the run was."""
    return {"type": "trace", "version": FORMAT_VERSION, "wall_start": wall_start, "meta": meta}


def start_record(prompt: str, model: str, at: float) -> dict[str, Any]:
    """The run started: with what prompt, which model, when on its clock."""
    return {"type": "start", "prompt": prompt, "model": model, "at": at}


def call_record(call: TraceCall, *, attempt: int, order: int) -> dict[str, Any]:
    """A call and its result, written the moment the result exists.

    `dispatched` is when the call was handed to the executor; the turn's timeline, written when
    the turn ends, says when its arguments were complete. `attempt` counts broken streams
    before this call's (its calls are void if the turn was asked again); `order` is its place
    among the calls handed over in that attempt, which is the message's order.
    """
    return {
        "type": "call",
        "turn": call.turn,
        "attempt": attempt,
        "order": order,
        "id": call.id,
        "name": call.name,
        "arguments": call.arguments,
        "early": call.early,
        "dispatched": call.arguments_done,
        "started": call.started,
        "ended": call.ended,
        "is_error": call.is_error,
        "error_kind": call.error_kind,
        "duplicate_of": call.duplicate_of,
        "attempts": call.attempts,
        **({"hedges": call.hedges} if call.hedges else {}),  # optional: old files have none
        **({"after": list(call.after)} if call.after else {}),
        "content": call.content,
    } | ({"progress": [_progress_record(p) for p in call.progress]} if call.progress else {})


def _progress_record(report: TraceProgress) -> dict[str, Any]:
    return {
        "at": report.at,
        "progress": report.progress,
        "total": report.total,
        "message": report.message,
    }


def retry_record(turn: int, attempt: int, error: str) -> dict[str, Any]:
    """A streamed message broke and was asked again: the calls of `attempt` are void."""
    return {"type": "retry", "turn": turn, "attempt": attempt, "error": error}


def turn_record(stats: TurnStats, text: str) -> dict[str, Any]:
    """A finished round trip: its `TurnStats` field by field, plus derived figures for readers.

    The `figures` object is for people reading the file with `jq`; loading ignores it and
    recomputes every figure from the fields.
    """
    batch = stats.batch
    return {
        "type": "turn",
        "turn": stats.index,
        "text": text,
        "calls": stats.calls,
        "started_at": stats.started_at,
        "message_ended_at": stats.message_ended_at,
        "ended_at": stats.ended_at,
        "input_tokens": stats.input_tokens,
        "output_tokens": stats.output_tokens,
        "streamed": stats.streamed,
        "retries": stats.retries,
        "batch": None
        if batch is None
        else {
            "calls": batch.calls,
            "failed": batch.failed,
            "deduplicated": batch.deduplicated,
            "wall_time": batch.wall_time,
            "busy_time": batch.busy_time,
            "peak_concurrency": batch.peak_concurrency,
            "critical_path": batch.critical_path,
        },
        "timeline": [
            {
                "call_id": t.call_id,
                "name": t.name,
                "arguments_done": t.arguments_done,
                "started": t.started,
                "ended": t.ended,
                "is_error": t.is_error,
            }
            for t in stats.timeline
        ],
        "figures": {
            "wall_time": stats.wall_time,
            "model_time": stats.model_time,
            "tool_time": stats.tool_time,
            "time_saved": stats.time_saved,
            "early_dispatch_saved": stats.early_dispatch_saved,
        },
    }


def end_record(stats: RunStats, output: str) -> dict[str, Any]:
    """The model answered: the run's wall time and answer, plus derived figures for readers."""
    return {
        "type": "end",
        "wall_time": stats.wall_time,
        "output": output,
        "figures": {
            "round_trips": stats.round_trips,
            "calls": stats.calls,
            "calls_per_turn": stats.calls_per_turn,
            "model_time": stats.model_time,
            "tool_time": stats.tool_time,
            "time_saved": stats.time_saved,
            "early_dispatch_saved": stats.early_dispatch_saved,
            "input_tokens": stats.input_tokens,
            "output_tokens": stats.output_tokens,
        },
    }


def failed_record(error: str, at: float) -> dict[str, Any]:
    """The run raised (`IncompleteTurn`, `MaxTurnsExceeded`, a provider error...): its end."""
    return {"type": "failed", "error": error, "at": at}


class Fields:
    """Typed access to one record's fields, failing with the line and field it is about."""

    def __init__(self, record: Mapping[str, Any], where: str) -> None:
        self.record = record
        self.where = where

    def error(self, problem: str) -> TraceError:
        """An error about this record."""
        return TraceError(f"{self.where}: {problem}")

    def _get(self, key: str) -> Any:
        if key not in self.record:
            raise self.error(f"{self.record.get('type', 'the')} record has no {key!r}")
        return self.record[key]

    def _bad(self, key: str, wanted: str, value: Any) -> TraceError:
        return self.error(f"{key!r} should be {wanted}, got {value!r:.80}")

    def integer(self, key: str) -> int:
        """A whole number (not a boolean)."""
        value = self._get(key)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self._bad(key, "a whole number", value)
        return value

    def number(self, key: str) -> float:
        """A finite number."""
        value = self._get(key)
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise self._bad(key, "a finite number", value)
        return float(value)

    def opt_number(self, key: str) -> float | None:
        """A finite number or null."""
        return None if self._get(key) is None else self.number(key)

    def text(self, key: str) -> str:
        """A string."""
        value = self._get(key)
        if not isinstance(value, str):
            raise self._bad(key, "a string", value)
        return value

    def opt_text(self, key: str) -> str | None:
        """A string or null."""
        return None if self._get(key) is None else self.text(key)

    def flag(self, key: str) -> bool:
        """`true` or `false`."""
        value = self._get(key)
        if not isinstance(value, bool):
            raise self._bad(key, "true or false", value)
        return value

    def object(self, key: str) -> Fields:
        """A nested JSON object."""
        value = self._get(key)
        if not isinstance(value, dict):
            raise self._bad(key, "an object", value)
        return Fields(value, f"{self.where}, {key}")

    def objects(self, key: str) -> list[Fields]:
        """A list of JSON objects."""
        value = self._get(key)
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            raise self._bad(key, "a list of objects", value)
        return [Fields(v, f"{self.where}, {key}[{i}]") for i, v in enumerate(value)]

    def texts(self, key: str) -> list[str]:
        """A list of strings."""
        value = self._get(key)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self._bad(key, "a list of strings", value)
        return value

    def arguments(self, key: str) -> Mapping[str, Any] | str:
        """Tool arguments: an object, or the text the model wrote."""
        value = self._get(key)
        if not isinstance(value, dict | str):
            raise self._bad(key, "an object or a string", value)
        return value


def call_from_record(fields: Fields) -> tuple[TraceCall, int, int]:
    """A call record as a `TraceCall` (arguments done when dispatched), its attempt and order."""
    call = TraceCall(
        turn=fields.integer("turn"),
        id=fields.text("id"),
        name=fields.text("name"),
        arguments=fields.arguments("arguments"),
        early=fields.flag("early"),
        arguments_done=fields.number("dispatched"),
        started=fields.opt_number("started"),
        ended=fields.opt_number("ended"),
        is_error=fields.flag("is_error"),
        error_kind=fields.opt_text("error_kind"),
        content=fields.text("content"),
        duplicate_of=fields.opt_text("duplicate_of"),
        attempts=fields.integer("attempts"),
        progress=tuple(
            TraceProgress(
                at=report.number("at"),
                progress=report.number("progress"),
                total=report.opt_number("total"),
                message=report.opt_text("message"),
            )
            for report in (fields.objects("progress") if "progress" in fields.record else [])
        ),
        hedges=fields.integer("hedges") if "hedges" in fields.record else 0,
        after=tuple(fields.texts("after")) if "after" in fields.record else (),
    )
    return call, fields.integer("attempt"), fields.integer("order")


def turn_stats_from_record(fields: Fields) -> TurnStats:
    """A turn record's `TurnStats`, exactly as the agent measured it."""
    batch = None
    if fields.record.get("batch") is not None:
        b = fields.object("batch")
        batch = BatchStats(
            calls=b.integer("calls"),
            failed=b.integer("failed"),
            deduplicated=b.integer("deduplicated"),
            wall_time=b.number("wall_time"),
            busy_time=b.number("busy_time"),
            peak_concurrency=b.integer("peak_concurrency"),
            critical_path=b.number("critical_path"),
        )
    timeline = tuple(
        CallTiming(
            call_id=t.text("call_id"),
            name=t.text("name"),
            arguments_done=t.number("arguments_done"),
            started=t.opt_number("started"),
            ended=t.number("ended"),
            is_error=t.flag("is_error"),
        )
        for t in fields.objects("timeline")
    )
    return TurnStats(
        index=fields.integer("turn"),
        calls=fields.integer("calls"),
        started_at=fields.number("started_at"),
        message_ended_at=fields.number("message_ended_at"),
        ended_at=fields.number("ended_at"),
        input_tokens=fields.integer("input_tokens"),
        output_tokens=fields.integer("output_tokens"),
        batch=batch,
        streamed=fields.flag("streamed"),
        timeline=timeline,
        retries=fields.integer("retries"),
    )
