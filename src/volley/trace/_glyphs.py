"""How the terminal timelines draw: colours and glyphs of bars and markers, and text helpers.

Both terminal views, a Gantt per turn and the compact one-axis view of a run, draw a row the same
way (a bar, the moment its arguments were complete, waiting, never ran); only the time window a
row is laid on differs, so a row is drawn against a `fraction` function: where a moment falls in
the window, from 0 to 1.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

from rich.text import Text

from ._layout import LEGEND, Kind, Row
from ._units import printable, seconds

__all__ = [
    "COLOURS",
    "DURATION_WIDTH",
    "GLYPHS",
    "HEDGED",
    "MARKER",
    "MESSAGE_END",
    "NEVER_RAN",
    "WAITING",
    "Cell",
    "duration",
    "duration_style",
    "figures_text",
    "group",
    "legend_items",
    "one_line",
    "pack",
    "row_cells",
]

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
HEDGED = "#fbbf24"
"""The note beside a hedged call's name."""

Cell = tuple[str, str]
Fraction = Callable[[float], float]
"""Where a moment falls in the window drawn, from 0 to 1 (clamped)."""


def row_cells(row: Row, width: int, fraction: Fraction, message_end: float | None) -> list[Cell]:
    """The bar area of one row, cell by cell (`message_end`: when its turn's message ended)."""
    cells: list[Cell] = [(" ", "")] * width

    def column(t: float) -> int:
        return min(width - 1, max(0, int(fraction(t) * width)))

    def last_column(t: float) -> int:
        return min(width - 1, max(0, math.ceil(fraction(t) * width) - 1))

    if row.kind != "model" and message_end is not None:
        cells[column(message_end)] = MESSAGE_END
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


def group(cells: list[Cell]) -> Iterable[Cell]:
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


def duration(row: Row) -> str:
    """What the duration column says of a row."""
    if row.start is None:
        return "cancelled" if row.kind == "discarded" else "never ran"
    if row.end is None:
        return ""
    return seconds(row.end - row.start)


def duration_style(row: Row) -> str:
    """The duration column's style: a failed call's in its bar's colour."""
    if row.kind == "error":
        return COLOURS["error"]
    return "grey50" if row.kind == "discarded" else ""


def figures_text(figures: list[tuple[str, str]], width: int, *, lead: Text | None = None) -> Text:
    """`label value` pairs packed on as few lines as fit, after `lead` if given."""
    items = [lead] if lead is not None else []
    for label, value in figures:
        item = Text(f"{label} ", style="grey62")
        item.append(value, style="bold")
        items.append(item)
    return pack(items, width, "  ·  " if lead is None else " · ")


def legend_items() -> list[Text]:
    """What each bar kind and marker means, one item each."""
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
    return items


def pack(items: list[Text], width: int, separator: str) -> Text:
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


def one_line(text: str, limit: int) -> str:
    """`text` on one line, printable, cut to `limit` characters with an ellipsis."""
    flat = printable(" ".join(text.split()))
    return flat if len(flat) <= limit else flat[: max(0, limit - 1)] + "…"
