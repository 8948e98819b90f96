"""The inline SVG pictures of the HTML page: one Gantt per turn, and an overview of the run.

Everything taken from the run (names, arguments, results) goes through `escape`: a model writes
the arguments and a tool the results, and either may contain markup. Colours are fixed fills
(not from the data) so that a picture of the page can be checked pixel by pixel.
"""

from __future__ import annotations

from html import escape

from ._layout import LEGEND, Kind, Row, TurnView, nice_ticks, turn_views
from ._model import Trace, TraceCall
from ._units import arguments_text, printable, seconds, tick

__all__ = ["COLOURS", "HATCH", "OVERVIEW_COLOURS", "gantt", "legend", "overview"]

COLOURS: dict[Kind, str] = {
    "model": "#8b5cf6",
    "call": "#3b82f6",
    "early": "#14b8a6",
    "error": "#ef4444",
    "discarded": "#cbd5e1",
}
OVERVIEW_COLOURS = {"model": "#ddd6fe", "tools": "#bfdbfe"}
"""Lighter than the bars: the overview is context, the turns are the subject."""
MARKER = "#f59e0b"

WIDTH = 1080
LABEL = 250
"""Width of the label column."""
DURATION = 72
GAP = 14
CHART_X = LABEL + GAP
CHART_W = WIDTH - CHART_X - DURATION - GAP
ROW = 28
BAR = 16
TOP = 22
"""Room above the first row for the message-end label."""
AXIS = 26
LABEL_CHARS = 34
"""Characters of a row label that fit its column (monospace, 12 px)."""
TOOLTIP_CHARS = 600
KEEP = "\n\t"
"""Control characters that data may keep on the page (as line breaks and tabs)."""


def gantt(view: TurnView) -> str:
    """The turn's timeline: a row per bar, the message's end, an axis in seconds."""
    height = TOP + ROW * max(1, len(view.rows)) + AXIS
    parts = [
        f'<svg class="gantt" viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" '
        f'role="img" aria-label="Timeline of turn {view.turn.index}">',
        _grid(view, height),
    ]
    for k, row in enumerate(view.rows):
        parts.append(_row(view, row, TOP + k * ROW))
    if view.message_end is not None and len(view.rows) > 1:
        x = _x(view, view.message_end)
        parts.append(
            f'<line class="message-end" x1="{x:.1f}" y1="{TOP - 4}" x2="{x:.1f}" '
            f'y2="{TOP + ROW * len(view.rows)}"/>'
            f'<text class="message-end-label" x="{x:.1f}" y="{TOP - 8}" '
            f'text-anchor="{_anchor(x)}">message ends</text>'
        )
    if view.failed_at is not None:
        x = _x(view, view.failed_at)
        parts.append(
            f'<line class="failed" x1="{x:.1f}" y1="{TOP - 4}" x2="{x:.1f}" '
            f'y2="{TOP + ROW * max(1, len(view.rows))}"/>'
            f'<text class="failed-label" x="{x:.1f}" y="{TOP - 8}" '
            f'text-anchor="{_anchor(x)}">run failed</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _x(view: TurnView, t: float) -> float:
    return CHART_X + view.fraction(t) * CHART_W


def _anchor(x: float) -> str:
    if x > CHART_X + CHART_W - 60:
        return "end"
    return "start" if x < CHART_X + 60 else "middle"


def _grid(view: TurnView, height: int) -> str:
    step, ticks = nice_ticks(view.length, 10)
    bottom = height - AXIS
    parts = [f'<g class="grid"><line class="axis" x1="{CHART_X}" y1="{bottom}" '
             f'x2="{CHART_X + CHART_W}" y2="{bottom}"/>']  # fmt: skip
    for value in ticks:
        x = CHART_X + value / view.length * CHART_W
        parts.append(
            f'<line x1="{x:.1f}" y1="{TOP - 2}" x2="{x:.1f}" y2="{bottom + 4}"/>'
            f'<text x="{x:.1f}" y="{bottom + 17}" text-anchor="{_anchor(x)}">'
            f"{escape(tick(value, step))}</text>"
        )
    parts.append("</g>")
    return "".join(parts)


def _row(view: TurnView, row: Row, y: int) -> str:
    mid = y + ROW / 2
    top = mid - BAR / 2
    parts = [
        f'<g class="row {row.kind}"><title>{escape(printable(_tooltip(view, row), keep=KEEP))}'
        "</title>",
        f'<rect class="hit" x="0" y="{y}" width="{WIDTH}" height="{ROW}"/>',
        _label(row, mid),
    ]
    if row.start is not None:
        x0 = _x(view, row.start)
        x1 = max(_x(view, row.end if row.end is not None else row.start), x0 + 2)
        if row.marker is not None and row.marker < row.start:
            parts.append(
                f'<line class="wait" x1="{_x(view, row.marker):.1f}" y1="{mid}" '
                f'x2="{x0:.1f}" y2="{mid}"/>'
            )
        fill = "url(#hatch)" if row.kind == "discarded" else COLOURS[row.kind]
        parts.append(
            f'<rect class="bar" x="{x0:.1f}" y="{top}" width="{x1 - x0:.1f}" height="{BAR}" '
            f'rx="3" fill="{fill}"/>'
        )
    elif row.end is not None:  # never ran: a cross where it was given up (beside its marker)
        x, r = _x(view, row.end), 5.0
        if row.marker is not None and abs(_x(view, row.marker) - x) < 2 * r + 2:
            x = _x(view, row.marker) + 2 * r + 3
        parts.append(
            f'<path class="never" d="M{x - r:.1f} {mid - r}L{x + r:.1f} {mid + r}'
            f'M{x - r:.1f} {mid + r}L{x + r:.1f} {mid - r}"/>'
        )
    if row.marker is not None:
        x, r = _x(view, row.marker), 5.5
        parts.append(
            f'<path class="marker" d="M{x:.1f} {mid - r}L{x + r:.1f} {mid}L{x:.1f} {mid + r}'
            f'L{x - r:.1f} {mid}Z" fill="{MARKER}"/>'
        )
    parts.append(
        f'<text class="duration" x="{WIDTH - 4}" y="{mid + 4}" text-anchor="end">'
        f"{escape(_duration(row))}</text></g>"
    )
    return "".join(parts)


def _label(row: Row, mid: float) -> str:
    name = _clip(row.label, LABEL_CHARS)
    note = _clip(f"({row.note})", LABEL_CHARS - len(name) - 1) if row.note else ""
    detail = _clip(row.detail, LABEL_CHARS - len(name) - len(note) - 1 - bool(note))
    text = f'<tspan class="name">{escape(name)}</tspan>'
    if note:
        text += f'<tspan class="note"> {escape(note)}</tspan>'
    if detail:
        text += f'<tspan class="detail"> {escape(detail)}</tspan>'
    return f'<text class="label" x="0" y="{mid + 4}">{text}</text>'


def _clip(text: str, limit: int) -> str:
    if limit <= 1:
        return ""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _duration(row: Row) -> str:
    if row.start is None:
        return "cancelled" if row.kind == "discarded" else "never ran"
    return seconds((row.end if row.end is not None else row.start) - row.start)


def _tooltip(view: TurnView, row: Row) -> str:
    """What hovering a row tells: the call, its arguments, its timings, its result or error."""

    def at(t: float | None) -> str:
        return "—" if t is None else seconds(t - view.start)

    stats = view.turn.stats
    if row.call is None:
        lines = [f"model · request sent at {at(row.start)}, message ended at {at(row.end)}"]
        if stats is not None:
            lines.append(
                f"{stats.input_tokens:,} tokens in · {stats.output_tokens:,} out"
                + (f" · {stats.retries} broken stream(s) asked again" if stats.retries else "")
            )
        return "\n".join(lines)
    call = row.call
    return "\n".join(
        [
            f"{call.name} · {_status(call, row.kind)}",
            f"arguments: {_excerpt(arguments_text(call.arguments, indent=None))}",
            f"arguments complete at {at(call.arguments_done)} · started {at(call.started)} · "
            f"ended {at(call.ended)} · {_duration(row)}"
            + (f" · {row.note or f'{call.attempts} attempts'}" if call.attempts > 1 else ""),
            *([_progress_line(call)] if call.progress else []),
            ("error" if call.is_error else "result") + f": {_excerpt(call.content)}",
        ]
    )


def _progress_line(call: TraceCall) -> str:
    last = call.progress[-1]
    done = f"{last.progress:g}" + ("" if last.total is None else f"/{last.total:g}")
    said = f" {_excerpt(last.message)}" if last.message else ""
    return f"progress: {done}{said} ({len(call.progress)} report(s))"


def _status(call: TraceCall, kind: Kind) -> str:
    parts = []
    if kind == "discarded":
        parts.append("cancelled with its broken stream")
    if call.is_error:
        parts.append(f"failed ({call.error_kind or 'error'})")
    else:
        parts.append("ok")
    if call.early:
        parts.append("started while the model was writing")
    if call.duplicate_of is not None:
        parts.append(f"shared the result of {call.duplicate_of}")
    return ", ".join(parts)


def _excerpt(text: str) -> str:
    return text if len(text) <= TOOLTIP_CHARS else text[:TOOLTIP_CHARS] + "…"


def overview(trace: Trace) -> str:
    """The run at a glance: each turn's model time and tool time, along the run's clock."""
    start, end = trace.span
    views = turn_views(trace)
    if not views or end <= start:
        return ""
    length = end - start
    height, bar = 38, 20
    parts = [
        f'<svg class="overview" viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" '
        f'height="{height}" role="img" aria-label="The run\'s turns along its clock">'
    ]

    def x(t: float) -> float:
        return (t - start) / length * WIDTH

    for view in views:
        stats = view.turn.stats
        if stats is None:  # what is known of it: from its start to the last thing it did
            x0, x2 = x(view.start), x(view.end)
            parts.append(
                f"<g><title>Turn {view.turn.index}: did not finish</title>"
                f'<rect x="{x0:.1f}" y="0" width="{max(x2 - x0, 1):.1f}" height="{bar}" '
                f'fill="url(#hatch)"/>'
                f'<line class="turn-edge" x1="{x0:.1f}" y1="0" x2="{x0:.1f}" y2="{bar}"/>'
                f'<text class="turn-name" x="{x0 + 5:.1f}" y="{bar - 6}">'
                f"{_name(view.turn.index, x2 - x0)}</text></g>"
            )
            continue
        x0, x1, x2 = x(stats.started_at), x(stats.message_ended_at), x(stats.ended_at)
        name = _name(stats.index, x2 - x0)
        parts.append(
            f"<g><title>Turn {stats.index}: model {escape(seconds(stats.model_time))}, "
            f"round trip {escape(seconds(stats.wall_time))}</title>"
            f'<rect x="{x0:.1f}" y="0" width="{max(x1 - x0, 1):.1f}" height="{bar}" '
            f'fill="{OVERVIEW_COLOURS["model"]}"/>'
            f'<rect x="{x1:.1f}" y="0" width="{max(x2 - x1, 0):.1f}" height="{bar}" '
            f'fill="{OVERVIEW_COLOURS["tools"]}"/>'
            f'<line class="turn-edge" x1="{x0:.1f}" y1="0" x2="{x0:.1f}" y2="{bar}"/>'
            f'<text class="turn-name" x="{x0 + 5:.1f}" y="{bar - 6}">{name}</text></g>'
        )
    parts.append(
        f'<text x="0" y="{bar + 14}">the run, turn by turn:</text>'
        f'<rect x="160" y="{bar + 5}" width="18" height="10" fill="{OVERVIEW_COLOURS["model"]}"/>'
        f'<text x="184" y="{bar + 14}">model</text>'
        f'<rect x="230" y="{bar + 5}" width="18" height="10" fill="{OVERVIEW_COLOURS["tools"]}"/>'
        f'<text x="254" y="{bar + 14}">calls</text>'
        f'<text x="{WIDTH}" y="{bar + 14}" text-anchor="end">{escape(seconds(length))}</text>'
        "</svg>"
    )
    return "".join(parts)


def _name(index: int, room: float) -> str:
    return f"turn {index}" if room > 60 else f"{index}" if room > 12 else ""


def legend() -> str:
    """What the colours and marks mean."""
    items = [
        f'<li><svg width="22" height="12"><rect width="22" height="12" rx="3" '
        f'fill="{"url(#hatch)" if kind == "discarded" else COLOURS[kind]}"/></svg>'
        f"{escape(meaning)}</li>"
        for kind, meaning in LEGEND
    ]
    items += [
        f'<li><svg width="12" height="12"><path d="M6 0.5L11.5 6L6 11.5L0.5 6Z" '
        f'fill="{MARKER}"/></svg>arguments complete</li>',
        '<li><svg width="22" height="12"><line class="wait" x1="0" y1="6" x2="22" y2="6"/>'
        "</svg>waiting to start</li>",
        '<li><svg width="12" height="12"><path class="never" d="M1 1L11 11M1 11L11 1"/></svg>'
        "never ran</li>",
    ]
    return f'<ul class="legend">{"".join(items)}</ul>'


HATCH = (
    '<svg width="0" height="0" style="position:absolute" aria-hidden="true"><defs>'
    '<pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" '
    'patternTransform="rotate(45)"><rect width="6" height="6" fill="#e2e8f0"/>'
    '<line x1="0" y1="0" x2="0" y2="6" stroke="#94a3b8" stroke-width="2"/></pattern>'
    "</defs></svg>"
)
"""The hatching of cancelled calls, defined once for every picture of the page."""
