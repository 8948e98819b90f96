"""The compact timeline: a whole run on one time axis, one line per call.

The per-turn Gantt gives each turn its own axis, which reads a turn well but hides the run's
shape: how many round trips, and how long the whole thing took next to another way of running it.
The compact view puts every turn on one axis: a lane for the model (each turn's request to the
end of its message, numbered, alternately shaded so that touching turns stay apart), then one
line per call, labelled with its turn. Given `until`, the axis spans at least that many seconds,
so runs drawn with the same `until` share a scale and their bars compare by length.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from rich.text import Text

from ._figures import TIMES, run_status, run_title
from ._glyphs import (
    COLOURS,
    DURATION_WIDTH,
    HEDGED,
    NEVER_RAN,
    Cell,
    duration,
    duration_style,
    figures_text,
    group,
    one_line,
    row_cells,
)
from ._layout import MIN_WINDOW, Row, nice_ticks, turn_views
from ._model import Trace
from ._units import printable, seconds, tick, tokens

__all__ = ["TURN_GLYPHS", "TURN_NUMBER", "compact_figures", "compact_lines"]

TURN_GLYPHS = ("█", "▓")
"""The model lane's bars, turn by turn in turn: neighbouring turns never look like one bar."""
TURN_NUMBER = f"bold #1e1b4b on {COLOURS['model']}"
"""A turn's number, written at the start of its bar when it fits."""


@dataclass(frozen=True, slots=True)
class Window:
    """The run's time axis: `start` to `start + length` seconds (`length` more than 0)."""

    start: float
    length: float

    def fraction(self, t: float) -> float:
        """Where `t` falls on the axis, from 0 to 1 (clamped)."""
        value = (t - self.start) / self.length
        return min(1.0, max(0.0, value)) if value == value else 0.0  # NaN: at the start


def window(trace: Trace, until: float | None) -> Window:
    """The axis of `trace`: from its start, over the run (and at least `until` seconds)."""
    start, end = trace.span
    length = end - start
    if not math.isfinite(length):  # nothing sensible to draw on: an axis that still draws
        return Window(start if math.isfinite(start) else 0.0, MIN_WINDOW)
    if until is not None and math.isfinite(until) and until > length:
        length = until
    return Window(start, max(length, MIN_WINDOW))


def compact_figures(trace: Trace) -> list[tuple[str, str]]:
    """The run in one line: round trips, calls per turn, wall time, tokens."""
    stats = trace.figures
    return [
        ("round trips", str(len(trace.turns))),
        ("calls per turn", calls_per_turn(len(t.calls) for t in trace.turns) or "none"),
        ("wall time", seconds(stats.wall_time)),
        ("tokens", f"{tokens(stats.input_tokens)} in · {tokens(stats.output_tokens)} out"),
    ]


def calls_per_turn(counts: Iterable[int]) -> str:
    """`1, 1, 1, 0` as `1x3, 0` (with a multiplication sign): eleven turns stay short."""
    parts = []
    for count, repeats in itertools.groupby(counts):
        n = len(list(repeats))
        parts.append(f"{count}{TIMES}{n}" if n > 1 else str(count))
    return ", ".join(parts)


def compact_lines(
    trace: Trace, width: int, *, until: float | None, title: str | None
) -> list[Text]:
    """The compact timeline of `trace`, line by line, each at most `width` cells (after crop)."""
    label_width = min(32, max(10, width * 3 // 10))
    bar_width = max(8, width - label_width - 1 - DURATION_WIDTH)
    axis = window(trace, until)
    head = Text(printable(title if title is not None else run_title(trace)), style="bold")
    lines = [figures_text(compact_figures(trace), width, lead=head)]
    status = run_status(trace)
    if status:
        lines.append(_crop(Text(one_line(f"⚠ {status}", width), style="bold yellow")))
    lines.append(_model_lane(trace, axis, label_width, bar_width))
    views = turn_views(trace)
    digits = len(str(max((view.turn.index for view in views), default=1)))
    for view in views:
        for row in view.rows:
            if row.kind != "model":
                number = f"{view.turn.index:>{digits}}"
                cells = row_cells(row, bar_width, axis.fraction, view.message_end)
                lines.append(_row(row, number, cells, label_width))
    if trace.failed_at is not None:
        lines.append(_failed(axis, trace.failed_at, label_width, bar_width))
    if not trace.turns:
        lines.append(_crop(Text("No turn was recorded.", style="italic")))
    lines.append(_axis(axis, label_width, bar_width))
    return lines


def _model_lane(trace: Trace, axis: Window, label_width: int, bar_width: int) -> Text:
    """Each finished turn's request to message end, numbered at its start where there is room."""
    cells: list[Cell] = [(" ", "")] * bar_width

    def column(t: float) -> int:
        return min(bar_width - 1, max(0, int(axis.fraction(t) * bar_width)))

    def last_column(t: float) -> int:
        return min(bar_width - 1, max(0, math.ceil(axis.fraction(t) * bar_width) - 1))

    finished = [turn for turn in trace.turns if turn.stats is not None]
    for k, turn in enumerate(finished):
        assert turn.stats is not None
        first = column(turn.stats.started_at)
        last = max(first, last_column(turn.stats.message_ended_at))
        for at in range(first, last + 1):
            cells[at] = (TURN_GLYPHS[k % 2], COLOURS["model"])
        number = str(turn.index)
        if last - first + 1 > len(number):  # the number and at least one cell of bar
            for offset, digit in enumerate(number):
                cells[first + offset] = (digit, TURN_NUMBER)
    text = _label(Text("model", style="bold"), label_width)
    for glyph, style in group(cells):
        text.append(glyph, style=style)
    model_time = sum(turn.stats.model_time for turn in finished if turn.stats is not None)
    text.append((seconds(model_time) if finished else "").rjust(DURATION_WIDTH))
    return _crop(text)


def _row(row: Row, number: str, cells: list[Cell], label_width: int) -> Text:
    discarded = row.kind == "discarded"
    label = Text(number + " ", style="grey50")
    label.append(printable(row.label), style="grey50 strike" if discarded else "bold")
    if row.note:
        label.append(f" ({row.note})", style=HEDGED)
    detail = _short_arguments(row.call.arguments) if row.call is not None else row.detail
    if detail:
        label.append(" " + printable(detail), style="grey62")
    text = _label(label, label_width)
    for glyph, style in group(cells):
        text.append(glyph, style=style)
    text.append(duration(row).rjust(DURATION_WIDTH), style=duration_style(row))
    return _crop(text)


def _failed(axis: Window, at: float, label_width: int, bar_width: int) -> Text:
    """Where the run failed, on the run's axis."""
    text = _label(Text("run failed", style=NEVER_RAN[1]), label_width)
    column = min(bar_width - 1, max(0, int(axis.fraction(at) * bar_width)))
    text.append("╌" * column, style="grey35")
    text.append(NEVER_RAN[0], style=NEVER_RAN[1])
    return _crop(text)


def _axis(axis: Window, label_width: int, bar_width: int) -> Text:
    """One line of ticks, each `╵` followed by its label (preceded, at the end) if it fits."""
    step, ticks = nice_ticks(axis.length, max(2, bar_width // 10))
    line = [" "] * bar_width
    free = 0
    for value in ticks:
        col = min(bar_width - 1, int(value / axis.length * bar_width))
        if col < free:
            continue
        label = tick(value, step)
        if col + 1 + len(label) <= bar_width:
            line[col : col + 1 + len(label)] = "╵" + label
            free = col + len(label) + 2
        elif col - len(label) >= free:  # at the end: the label before its tick
            line[col - len(label) : col + 1] = label + "╵"
            free = col + 2
        else:
            line[col] = "╵"
            free = col + 2
    return _crop(Text(" " * (label_width + 1) + "".join(line), style="grey50"))


def _label(label: Text, width: int) -> Text:
    label.truncate(width, overflow="ellipsis", pad=True)
    label.append(" ")
    return label


def _crop(text: Text) -> Text:
    text.no_wrap, text.overflow = True, "crop"
    return text


def _short_arguments(arguments: Mapping[str, Any] | str) -> str:
    """The arguments' values only, a URL by its last part: `R-1042, shipped`, `…/timeouts`."""
    if isinstance(arguments, str):
        return " ".join(arguments.split())
    return ", ".join(_short(value) for value in arguments.values())


def _short(value: Any) -> str:
    if not isinstance(value, str):
        try:
            value = json.dumps(value, ensure_ascii=False, default=repr)
        except ValueError:  # a circular structure
            value = repr(value)
    text = " ".join(value.split())
    if "://" in text and text.rstrip("/").count("/") > 2:
        return "…/" + text.rstrip("/").rsplit("/", 1)[-1]
    return text
