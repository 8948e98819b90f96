"""A run's timeline in the terminal: per turn, a Gantt of the model's message and of each call.

It is a rich renderable that lays itself out at render time, so the same object fits a 60-column
terminal and a 200-column one: the label and duration columns are fixed, the bars take the rest.
Colour tells the kinds of bar apart; markers (arguments done, waiting, never ran) are glyphs, so
the picture still reads without colour.

`compact=True` draws the whole run on one time axis instead, one line per call (see
`_compact`): short enough to stack several runs, and with `until`, on one shared scale.
"""

from __future__ import annotations

from collections.abc import Iterable

from rich.console import Console, ConsoleOptions, Group, RenderResult
from rich.rule import Rule
from rich.text import Text

from ._compact import TURN_GLYPHS, TURN_NUMBER, compact_lines
from ._figures import run_figures, run_status, run_title, turn_figures
from ._glyphs import (
    COLOURS,
    DURATION_WIDTH,
    HEDGED,
    NEVER_RAN,
    duration,
    duration_style,
    figures_text,
    group,
    legend_items,
    one_line,
    pack,
    row_cells,
)
from ._layout import Row, TurnView, nice_ticks, turn_views
from ._model import Trace
from ._units import printable, seconds, tick

__all__ = ["COLOURS", "Timeline", "TimelineLegend", "timeline", "timeline_legend"]


def timeline(
    trace: Trace,
    *,
    compact: bool = False,
    until: float | None = None,
    legend: bool = True,
    title: str | None = None,
) -> Timeline:
    """The timeline of `trace` for `rich`: `Console().print(timeline(trace))`.

    Args:
        trace: the run to draw.
        compact: the whole run on one time axis, one line per call (and one for the model),
            instead of a Gantt per turn, each on its own axis.
        until: with `compact`, the seconds the axis spans at least: runs drawn with the same
            `until` (the longest one's wall time) share a scale, so their bars compare by length.
        legend: end with what the colours and markers mean (`False` to print it once, with
            `timeline_legend`, under several timelines).
        title: the heading, instead of "volley trace" and the model.
    """
    return Timeline(trace, compact=compact, until=until, legend=legend, title=title)


def timeline_legend(*, compact: bool = False) -> TimelineLegend:
    """What the timelines' colours and markers mean, for printing once under several of them."""
    return TimelineLegend(compact=compact)


class TimelineLegend:
    """A rich renderable: the legend of the timelines, packed to the width it is given.

    Made by `timeline_legend`; `compact` gives the legend of compact timelines.
    """

    def __init__(self, *, compact: bool = False) -> None:
        self.compact = compact

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        items = legend_items()
        if self.compact:
            turns = Text.assemble(
                ("1", TURN_NUMBER),
                (TURN_GLYPHS[0] * 2, COLOURS["model"]),
                ("2", TURN_NUMBER),
                (TURN_GLYPHS[1] * 2, COLOURS["model"]),
                " the model's turns, numbered",
            )
            items.insert(1, turns)
        yield pack(items, max(1, options.max_width), "   ")


class Timeline:
    """A rich renderable: a header with the run's figures, one Gantt per turn, a legend.

    Compact: a line of figures, the model's lane and a line per call on one axis, a legend.
    Made by `timeline`, whose arguments are its attributes.
    """

    def __init__(
        self,
        trace: Trace,
        *,
        compact: bool = False,
        until: float | None = None,
        legend: bool = True,
        title: str | None = None,
    ) -> None:
        self.trace = trace
        self.compact = compact
        self.until = until
        self.legend = legend
        self.title = title

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        width = max(24, options.max_width)
        if self.compact:
            yield from compact_lines(self.trace, width, until=self.until, title=self.title)
        else:
            yield from self._header(width)
            origin = self.trace.span[0]
            for view in turn_views(self.trace):
                yield from _turn(view, width, origin)
            if not self.trace.turns:
                yield Text("No turn was recorded.", style="italic")
        if self.legend:
            if not self.compact:
                yield Text()
            yield timeline_legend(compact=self.compact)

    def _header(self, width: int) -> Iterable[Text | Rule]:
        trace = self.trace
        title = printable(self.title if self.title is not None else run_title(trace))
        yield Rule(Text(title, style="bold"), style="grey50")
        prompt = trace.meta.get("prompt")
        if isinstance(prompt, str) and prompt.strip():
            yield Text(one_line(prompt, 2 * width - 2), style="italic")
        yield figures_text(run_figures(trace), width)
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
    yield figures_text(turn_figures(turn), width)
    if turn.text.strip():
        yield Text(one_line(turn.text, 2 * width - 2), style="italic grey62")
    for error in turn.retry_errors:
        yield Text(one_line(f"asked again after: {error}", width), style="grey50", no_wrap=True)
    label_width = min(32, max(10, width * 3 // 10))
    bar_width = max(8, width - label_width - 1 - DURATION_WIDTH)
    for row in view.rows:
        yield _row(view, row, label_width, bar_width)
    if view.failed_at is not None:
        yield _failed(view, view.failed_at, label_width, bar_width)
    yield _axis(view, label_width, bar_width)


def _row(view: TurnView, row: Row, label_width: int, bar_width: int) -> Text:
    text = Text(no_wrap=True, overflow="crop")
    label = Text(printable(row.label), style="bold" if row.kind != "discarded" else "grey50 strike")
    if row.note:
        label.append(f" ({row.note})", style=HEDGED)
    if row.detail:
        label.append(" " + printable(row.detail), style="grey62")
    label.truncate(label_width, overflow="ellipsis", pad=True)
    text.append_text(label)
    text.append(" ")
    for glyph, style in group(row_cells(row, bar_width, view.fraction, view.message_end)):
        text.append(glyph, style=style)
    text.append(duration(row).rjust(DURATION_WIDTH), style=duration_style(row))
    return text


def _failed(view: TurnView, at: float, label_width: int, bar_width: int) -> Text:
    """Where the run failed, on the turn's axis."""
    text = Text("run failed".ljust(label_width)[:label_width] + " ", style=NEVER_RAN[1])
    column = min(bar_width - 1, int(view.fraction(at) * bar_width))
    text.append("╌" * column, style="grey35")
    text.append(NEVER_RAN[0], style=NEVER_RAN[1])
    text.no_wrap, text.overflow = True, "crop"
    return text


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
