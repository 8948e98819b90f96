"""What a turn's timeline shows, whatever draws it: its time window, one row per bar, the ticks.

The terminal and the HTML page differ only in how they draw a row; deciding what a row is (and
surviving odd data: no calls, zero-length calls, calls that never ran, a turn that never ended)
happens once, here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, TypeAlias

from ._model import Trace, TraceCall, TraceTurn
from ._units import arguments_summary, printable

__all__ = [
    "LEGEND",
    "Kind",
    "Row",
    "TurnView",
    "hedge_note",
    "nice_ticks",
    "turn_view",
    "turn_views",
]

Kind: TypeAlias = Literal["model", "call", "early", "error", "discarded"]

LEGEND: tuple[tuple[Kind, str], ...] = (
    ("model", "model writing its message"),
    ("call", "call"),
    ("early", "call started while the model was writing"),
    ("error", "failed call"),
    ("discarded", "call of a broken stream (cancelled)"),
)
"""Each bar kind and what it means, in the order a legend lists them."""

MIN_WINDOW = 0.001
"""Seconds a turn's window spans at least, so an instant turn still has an axis."""


@dataclass(frozen=True, slots=True)
class Row:
    """One bar: the model's message, or a call (with the moment its arguments were complete)."""

    kind: Kind
    label: str
    """`model`, or the tool's name."""
    detail: str
    """The call's arguments on one line (empty for the model)."""
    start: float | None
    """Where the bar begins; `None` for a call that never ran (it gets only its markers)."""
    end: float | None
    """Where the bar ends (for a call that never ran: when it was given up)."""
    marker: float | None = None
    """When the call's arguments were complete."""
    call: TraceCall | None = None
    note: str = ""
    """Said beside the label: that the call was hedged (`2 attempts, 1 hedge`), or nothing."""


@dataclass(frozen=True, slots=True)
class TurnView:
    """A turn laid out on its own time window, `start` to `end` (never empty)."""

    turn: TraceTurn
    start: float
    end: float
    message_end: float | None
    """When the model's message ended, if the turn finished."""
    rows: tuple[Row, ...]
    failed_at: float | None = None
    """When the run failed, if it failed during this turn."""

    @property
    def length(self) -> float:
        """Seconds the window spans (more than 0)."""
        return self.end - self.start

    def fraction(self, t: float) -> float:
        """Where `t` falls in the window, from 0 to 1 (clamped)."""
        return min(1.0, max(0.0, (t - self.start) / self.length))


def turn_views(trace: Trace) -> list[TurnView]:
    """Every turn of `trace` laid out; a turn that never finished starts where the last ended."""
    views = []
    previous = trace.started_at
    for k, turn in enumerate(trace.turns):
        last = k == len(trace.turns) - 1
        views.append(turn_view(turn, after=previous, failed_at=trace.failed_at if last else None))
        previous = turn.stats.ended_at if turn.stats is not None else None
    return views


def turn_view(
    turn: TraceTurn, *, after: float | None = None, failed_at: float | None = None
) -> TurnView:
    """The rows of `turn`: the model's bar, then calls of broken streams, then its calls.

    A turn that never finished has no start of its own: `after` (when the turn before it
    ended, or the run started) stands for it; `failed_at` is when the run failed, if it did.
    """
    rows: list[Row] = []
    stats = turn.stats
    if stats is not None:
        rows.append(Row("model", "model", "", stats.started_at, stats.message_ended_at))
    rows += [_row(call, "discarded") for call in turn.discarded]
    rows += [_row(call, None) for call in turn.calls]
    times = [t for row in rows for t in (row.start, row.end, row.marker) if t is not None]
    if stats is not None:
        times += (stats.started_at, stats.ended_at)
        start = stats.started_at
    else:
        start = min(times, default=after if after is not None else 0.0)
        if after is not None and after <= start:
            start = after
    if failed_at is not None and failed_at >= start:
        times.append(failed_at)
    else:
        failed_at = None
    end = max([start, *times])
    return TurnView(
        turn=turn,
        start=start,
        end=max(end, start + MIN_WINDOW),
        message_end=stats.message_ended_at if stats is not None else None,
        rows=tuple(rows),
        failed_at=failed_at,
    )


def _row(call: TraceCall, kind: Kind | None) -> Row:
    if kind is None:
        kind = "error" if call.is_error else "early" if call.early else "call"
    end = call.ended
    if end is None or (call.started is not None and end < call.started):
        end = call.started
    if call.started is None:  # it never ran: the bar is only where it was given up
        end = call.ended if call.ended is not None else call.arguments_done
    return Row(
        kind=kind,
        label=printable(call.name),
        detail=printable(arguments_summary(call.arguments)),
        start=call.started,
        end=end,
        marker=call.arguments_done,
        call=call,
        note=hedge_note(call),
    )


def hedge_note(call: TraceCall) -> str:
    """`2 attempts, 1 hedge` for a call that was hedged; empty for one that was not.

    A hedged call's bar spans its first attempt's start to the first answer: the note is what
    says a second attempt raced it (and was cancelled, or won).
    """
    if not call.hedges:
        return ""
    return f"{call.attempts} attempts, {call.hedges} hedge{'s' if call.hedges > 1 else ''}"


def nice_ticks(length: float, most: int) -> tuple[float, list[float]]:
    """Tick step and positions (0 to `length`) at 1, 2 or 5 times a power of ten, at most `most`."""
    most = max(1, most)
    if not length > 0 or not math.isfinite(length):
        return 1.0, [0.0]
    raw = length / most
    power = 10 ** math.floor(math.log10(raw))
    step = next((m * power for m in (1, 2, 5, 10) if m * power >= raw), 10 * power)
    count = int(length / step + 1e-9)
    return step, [k * step for k in range(count + 1)]
