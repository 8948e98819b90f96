"""A run's timeline in the terminal: per turn, a Gantt of the model's message and of each call.

It is a rich renderable that lays itself out at render time, so the same object fits a 60-column
terminal and a 200-column one: the label and duration columns are fixed, the bars take the rest.
Colour tells the kinds of bar apart; markers (arguments done, waiting, never ran) are glyphs, so
the picture still reads without colour.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from rich.console import Console, ConsoleOptions, Group, RenderResult
from rich.rule import Rule
from rich.text import Text

from ._figures import run_figures, run_status, run_title, turn_figures
from ._layout import LEGEND, Kind, Row, TurnView, nice_ticks, turn_views
from ._model import Trace
from ._units import printable, seconds, tick

__all__ = ["Timeline", "timeline"]

COLOURS: dict[Kind, str] = {
    "model": "#a78bfa",
    "call": "#60a5fa",
    "early": "#2dd4bf",
    "error": "#f87171",
    "discarded": "grey50",
}
GLYPHS: dict[Kind, str] = {
    "model": "█",
    "call": "█",
    "early": "█",
    "error": "█",
    "discarded": "╌",
}
MARKER = ("◆", "bold #fbbf24")
"""Where a call's arguments were complete."""
WAITING = ("┄", "grey50")
"""From arguments complete to the call's start: held back (a write) or queued."""
NEVER_RAN = ("✕", "bold #f87171")
MESSAGE_END = ("┊", "grey35")
DURATION_WIDTH = 9

Cell = tuple[str, str]


def timeline(trace: Trace) -> Timeline:
    """The timeline of `trace` for `rich`: `Console().print(timeline(trace))`."""
    return Timeline(trace)


class Timeline:
    """A rich renderable: a header with the run's figures, one Gantt per turn, a legend."""

    def __init__(self, trace: Trace) -> None:
        self.trace = trace

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        width = max(24, options.max_width)
        yield from self._header(width)
        origin = self.trace.span[0]
        for view in turn_views(self.trace):
            yield from _turn(view, width, origin)
        if not self.trace.turns:
            yield Text("No turn was recorded.", style="italic")
        yield Text()
        yield _legend(width)

    def _header(self, width: int) -> Iterable[Text | Rule]:
        trace = self.trace
        yield Rule(Text(run_title(trace), style="bold"), style="grey50")
        prompt = trace.meta.get("prompt")
        if isinstance(prompt, str) and prompt.strip():
            yield Text(_one_line(prompt, 2 * width - 2), style="italic")
        yield _figures(run_figures(trace), width)
        status = run_status(trace)
        if status:
            yield Text(f"⚠ {status}", style="bold yellow")


def _turn(view: TurnView, width: int, origin: float) -> Iterable[Text | Rule | Group]:
    turn = view.turn
    title = Text(f"Turn {turn.index}", style="bold")
    title.append(f" · at {seconds(view.start - origin)}", style="grey50")
    if not turn.finished:
        title.append(" · did not finish", style="bold yellow")
    yield Text()
    yield Rule(title, align="left", style="grey35")
    yield _figures(turn_figures(turn), width)
    if turn.text.strip():
        yield Text(_one_line(turn.text, 2 * width - 2), style="italic grey62")
    for error in turn.retry_errors:
        yield Text(_one_line(f"asked again after: {error}", width), style="grey50", no_wrap=True)
    label_width = min(32, max(10, width * 3 // 10))
    bar_width = max(8, width - label_width - 1 - DURATION_WIDTH)
    for row in view.rows:
        yield _row(view, row, label_width, bar_width)
    if view.failed_at is not None:
        yield _failed(view, view.failed_at, label_width, bar_width)
    yield _axis(view, label_width, bar_width)


def _row(view: TurnView, row: Row, label_width: int, bar_width: int) -> Text:
    text = Text(no_wrap=True, overflow="crop")
    label = Text(row.label, style="bold" if row.kind != "discarded" else "grey50 strike")
    if row.detail:
        label.append(" " + row.detail, style="grey62")
    label.truncate(label_width, overflow="ellipsis", pad=True)
    text.append_text(label)
    text.append(" ")
    for glyph, style in _group(_cells(view, row, bar_width)):
        text.append(glyph, style=style)
    text.append(_duration(row).rjust(DURATION_WIDTH), style=_duration_style(row))
    return text


def _failed(view: TurnView, at: float, label_width: int, bar_width: int) -> Text:
    """Where the run failed, on the turn's axis."""
    text = Text("run failed".ljust(label_width)[:label_width] + " ", style=NEVER_RAN[1])
    column = min(bar_width - 1, int(view.fraction(at) * bar_width))
    text.append("╌" * column, style="grey35")
    text.append(NEVER_RAN[0], style=NEVER_RAN[1])
    text.no_wrap, text.overflow = True, "crop"
    return text


def _cells(view: TurnView, row: Row, width: int) -> list[Cell]:
    """The bar area of one row, cell by cell."""
    cells: list[Cell] = [(" ", "")] * width

    def column(t: float) -> int:
        return min(width - 1, int(view.fraction(t) * width))

    def last_column(t: float) -> int:
        return min(width - 1, max(0, math.ceil(view.fraction(t) * width) - 1))

    if row.kind != "model" and view.message_end is not None:
        cells[column(view.message_end)] = MESSAGE_END
    if row.start is not None:
        first = column(row.start)
        end = row.end if row.end is not None else row.start
        if row.marker is not None and row.marker < row.start:
            for k in range(column(row.marker), first):
                cells[k] = WAITING
        for k in range(first, max(first, last_column(end)) + 1):
            cells[k] = (GLYPHS[row.kind], COLOURS[row.kind])
    elif row.end is not None:
        style = "grey50" if row.kind == "discarded" else NEVER_RAN[1]
        at = column(row.end)
        if row.marker is not None and column(row.marker) == at:  # beside the marker, not under
            at = min(width - 1, at + 1)
        cells[at] = (NEVER_RAN[0], style)
    if row.marker is not None:
        at = column(row.marker)
        bar = cells[at][0] == GLYPHS[row.kind] and row.start is not None
        if not bar or _bar_length(cells, at, GLYPHS[row.kind]) > 1:  # keep a one-cell bar seen
            cells[at] = MARKER
    return cells


def _bar_length(cells: list[Cell], at: int, glyph: str) -> int:
    end = at
    while end < len(cells) and cells[end][0] == glyph:
        end += 1
    return end - at


def _group(cells: list[Cell]) -> Iterable[Cell]:
    """Neighbouring cells of one style as one piece of text (fewer, longer segments)."""
    glyphs, style = "", ""
    for glyph, cell_style in cells:
        if cell_style != style and glyphs:
            yield glyphs, style
            glyphs = ""
        glyphs += glyph
        style = cell_style
    if glyphs:
        yield glyphs, style


def _duration(row: Row) -> str:
    if row.start is None:
        return "cancelled" if row.kind == "discarded" else "never ran"
    if row.end is None:
        return ""
    return seconds(row.end - row.start)


def _duration_style(row: Row) -> str:
    if row.kind == "error":
        return COLOURS["error"]
    return "grey50" if row.kind == "discarded" else ""


def _axis(view: TurnView, label_width: int, bar_width: int) -> Group:
    step, ticks = nice_ticks(view.length, max(2, bar_width // 9))
    line = ["─"] * bar_width
    labels = [" "] * bar_width
    free = 0
    for value in ticks:
        col = min(bar_width - 1, int(value / view.length * bar_width))
        line[col] = "└" if col == 0 else "┴"
        label = tick(value, step)
        at = min(col, bar_width - len(label))
        if at >= free and len(label) <= bar_width:
            labels[at : at + len(label)] = label
            free = at + len(label) + 1
    pad = " " * (label_width + 1)
    return Group(
        Text(pad + "".join(line), style="grey50", no_wrap=True, overflow="crop"),
        Text(pad + "".join(labels), style="grey50", no_wrap=True, overflow="crop"),
    )


def _figures(figures: list[tuple[str, str]], width: int) -> Text:
    items = []
    for label, value in figures:
        item = Text(f"{label} ", style="grey62")
        item.append(value, style="bold")
        items.append(item)
    return _pack(items, width, "  ·  ")


def _legend(width: int) -> Text:
    items = [
        Text.assemble((GLYPHS[kind] * 2, COLOURS[kind]), f" {meaning}") for kind, meaning in LEGEND
    ]
    items += [
        Text.assemble(mark, f" {meaning}")
        for mark, meaning in (
            (MARKER, "arguments complete"),
            (WAITING, "waiting to start"),
            (NEVER_RAN, "never ran"),
            (MESSAGE_END, "message ended"),
        )
    ]
    return _pack(items, width, "   ")


def _pack(items: list[Text], width: int, separator: str) -> Text:
    """Items on as few lines as fit `width`, never breaking one item across lines if it fits."""
    text = Text()
    used = 0
    for item in items:
        if used and used + len(separator) + item.cell_len > width:
            text.append("\n")
            used = 0
        elif used:
            text.append(separator, style="grey35")
            used += len(separator)
        text.append_text(item)
        used += item.cell_len
    return text


def _one_line(text: str, limit: int) -> str:
    flat = printable(" ".join(text.split()))
    return flat if len(flat) <= limit else flat[: max(0, limit - 1)] + "…"
