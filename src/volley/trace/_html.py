"""A trace as one self-contained HTML page: no network, no script, inline SVG and CSS only.

The page can be mailed, attached to an issue or opened from a CI artifact years later and look
the same. Every string from the run is escaped (see `_svg`); hovering a bar shows the call's
arguments, timings and result, and each turn has a table of its calls for reading at leisure.
"""

from __future__ import annotations

import datetime as dt
from html import escape
from os import PathLike
from pathlib import Path

from ._figures import run_figures, run_status, run_title, turn_figures
from ._layout import TurnView, hedge_note, turn_views
from ._model import Trace, TraceTurn
from ._svg import HATCH, gantt, legend, overview
from ._units import arguments_text, printable, seconds

__all__ = ["html", "write_html"]

EXCERPT = 1500
"""Characters of arguments and results shown in a turn's table of calls."""

CSS = """
:root { --ink: #0f172a; --muted: #64748b; --line: #e2e8f0; --card: #ffffff; }
* { box-sizing: border-box; }
body { margin: 0; background: #f1f5f9; color: var(--ink);
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; }
main { max-width: 1128px; margin: 0 auto; padding: 20px 24px 40px; }
h1 { font-size: 20px; margin: 0 0 2px; letter-spacing: -0.01em; }
h1 .model { color: var(--muted); font-weight: 500; }
h2 { font-size: 15px; margin: 0; display: flex; gap: 10px; align-items: baseline; }
h2 .at { color: var(--muted); font-weight: 400; font-size: 13px; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 10px;
  padding: 14px 16px; margin: 0 0 14px; }
.prompt { margin: 4px 0 10px; color: #334155; font-style: italic; }
.status { margin: 6px 0; color: #b45309; font-weight: 600; }
.figures { display: flex; flex-wrap: wrap; gap: 6px 22px; margin: 8px 0 10px; }
.figures div { display: flex; flex-direction: column; }
.figures dt { color: var(--muted); font-size: 11px; text-transform: uppercase;
  letter-spacing: 0.04em; }
.figures dd { margin: 0; font-weight: 600; font-variant-numeric: tabular-nums; }
.turn .figures { gap: 4px 18px; margin: 6px 0 4px; }
.turn .figures dd { font-size: 13px; }
.text { margin: 2px 0 6px; color: #475569; font-style: italic; white-space: pre-wrap;
  max-height: 4.4em; overflow: hidden; }
.retry { margin: 2px 0; color: #92400e; font-size: 12px; }
svg { display: block; max-width: 100%; height: auto; }
svg text { font: 11px ui-monospace, SFMono-Regular, Menlo, Consolas, "DejaVu Sans Mono",
  monospace; fill: var(--muted); }
.gantt .label { font-size: 12px; fill: var(--ink); }
.gantt .label .name { font-weight: 700; }
.gantt .label .detail { fill: var(--muted); }
.gantt .label .note { fill: #b45309; }
.gantt .duration { font-size: 12px; fill: #334155; font-variant-numeric: tabular-nums; }
.gantt .row.error .duration { fill: #dc2626; font-weight: 700; }
.gantt .row.discarded .label, .gantt .row.discarded .duration { opacity: 0.55; }
.gantt .hit { fill: transparent; }
.gantt .row:hover .hit { fill: #f1f5f9; }
.gantt .grid line { stroke: #eef2f7; stroke-width: 1; }
.gantt .grid line.axis { stroke: #cbd5e1; }
.gantt .message-end { stroke: #8b5cf6; stroke-width: 1.5; stroke-dasharray: 4 3; opacity: 0.7; }
.gantt .message-end-label { fill: #7c3aed; font-size: 10px; }
.gantt .failed { stroke: #dc2626; stroke-width: 1.5; stroke-dasharray: 4 3; }
.gantt .failed-label { fill: #dc2626; font-size: 10px; font-weight: 700; }
.wait { stroke: #94a3b8; stroke-width: 2; stroke-dasharray: 3 3; }
.never { stroke: #dc2626; stroke-width: 2.2; fill: none; stroke-linecap: round; }
.row.discarded .never { stroke: #94a3b8; }
.marker { stroke: #ffffff; stroke-width: 1.2; }
.overview { margin: 4px 0 2px; }
.overview .turn-edge { stroke: #ffffff; stroke-width: 2; }
.overview .turn-name { fill: #334155; font-weight: 600; }
.legend { list-style: none; display: flex; flex-wrap: wrap; gap: 4px 18px; padding: 0;
  margin: 8px 0 0; color: #475569; font-size: 12px; }
.legend li { display: flex; align-items: center; gap: 6px; }
.legend svg { display: inline-block; }
details { margin-top: 6px; }
summary { cursor: pointer; color: #334155; font-size: 13px; }
table { border-collapse: collapse; width: 100%; margin-top: 6px; font-size: 12px; }
th, td { text-align: left; vertical-align: top; padding: 4px 8px;
  border-top: 1px solid var(--line); }
th { color: var(--muted); font-weight: 600; }
td.num { font-variant-numeric: tabular-nums; white-space: nowrap; }
td pre { margin: 0; white-space: pre-wrap; word-break: break-word; max-height: 12em;
  overflow: auto; font: 11px ui-monospace, Menlo, Consolas, "DejaVu Sans Mono", monospace; }
tr.error td.result pre { color: #b91c1c; }
.answer { white-space: pre-wrap; margin: 4px 0 0; }
footer { color: var(--muted); font-size: 12px; margin-top: 18px; }
"""

SEPARATOR = ", "
"""Between the ids of the calls a call waited for."""


def write_html(trace: Trace, path: str | PathLike[str]) -> Path:
    """Write the page of `trace` to `path` (UTF-8) and return the path."""
    path = Path(path)
    path.write_text(html(trace), encoding="utf-8")
    return path


def html(trace: Trace) -> str:
    """The page of `trace`: the run's figures, then each turn's timeline and calls."""
    title = run_title(trace)
    body = [HATCH, _header(trace)]
    origin = trace.span[0]
    body += [_turn(view, origin, trace.output) for view in turn_views(trace)]
    if not trace.turns:
        body.append('<section class="card"><p>No turn was recorded.</p></section>')
    if trace.output is not None:
        body.append(
            '<section class="card"><h2>Answer</h2>'
            f'<p class="answer">{_text(trace.output)}</p></section>'
        )
    body.append(_footer(trace))
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{CSS}</style></head>"
        f"<body><main>{''.join(body)}</main></body></html>\n"
    )


def _header(trace: Trace) -> str:
    model = trace.meta.get("model")
    heading = "volley trace"
    if isinstance(model, str) and model:
        heading += f' <span class="model">· {_text(model)}</span>'
    parts = [f'<header class="card"><h1>{heading}</h1>']
    prompt = trace.meta.get("prompt")
    if isinstance(prompt, str) and prompt.strip():
        parts.append(f'<p class="prompt">{_text(_excerpt(prompt, 600))}</p>')
    status = run_status(trace)
    if status:
        parts.append(f'<p class="status">⚠ {escape(status)}</p>')
    parts += [_figures(run_figures(trace)), overview(trace), legend(), "</header>"]
    return "".join(parts)


def _turn(view: TurnView, origin: float, output: str | None) -> str:
    turn = view.turn
    state = "" if turn.finished else ' <span class="status">did not finish</span>'
    parts = [
        f'<section class="card turn" id="turn-{turn.index}">'
        f'<h2>Turn {turn.index} <span class="at">at {escape(seconds(view.start - origin))}'
        f"</span>{state}</h2>",
        _figures(turn_figures(turn)),
    ]
    if turn.text.strip() and (turn.calls or turn.text != output):  # else: the answer, below
        parts.append(f'<p class="text">{_text(turn.text)}</p>')
    parts += [f'<p class="retry">asked again after: {_text(e)}</p>' for e in turn.retry_errors]
    parts.append(gantt(view))
    calls = (*turn.discarded, *turn.calls)
    if calls:
        parts.append(_table(turn, view.start))
    parts.append("</section>")
    return "".join(parts)


def _table(turn: TraceTurn, start: float) -> str:
    def at(t: float | None) -> str:
        return "—" if t is None else escape(seconds(t - start))

    rows = []
    for call in (*turn.discarded, *turn.calls):
        discarded = any(call is c for c in turn.discarded)
        kind = "error" if call.is_error else "ok"
        if discarded:
            kind = "cancelled (broken stream)"
        elif call.is_error and call.error_kind:
            kind = f"error: {call.error_kind}"
        rows.append(
            f'<tr class="{"error" if call.is_error else "ok"}">'
            f"<td><b>{_text(call.name)}</b><br><small>{_text(call.id)}</small></td>"
            f"<td><pre>{_text(_excerpt(arguments_text(call.arguments, indent=2), EXCERPT))}"
            f"</pre></td>"
            f'<td class="num">{at(call.arguments_done)}</td><td class="num">{at(call.started)}'
            f'</td><td class="num">{at(call.ended)}</td>'
            f'<td class="num">{escape(seconds(call.duration))}</td>'
            f'<td class="result"><small>{_text(kind)}'
            f"{' · early' if call.early else ''}"
            f"{f' · {escape(hedge_note(call))}' if call.hedges else ''}"
            f"{f' · after {_text(SEPARATOR.join(call.after))}' if call.after else ''}</small>"
            f"<pre>{_text(_excerpt(call.content, EXCERPT))}</pre></td></tr>"
        )
    return (
        f"<details><summary>{len(rows)} call{'s' if len(rows) != 1 else ''}: arguments, "
        "timings and results</summary><table><thead><tr><th>call</th><th>arguments</th>"
        "<th>args done</th><th>start</th><th>end</th><th>ran</th><th>result</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table></details>"
    )


def _figures(figures: list[tuple[str, str]]) -> str:
    items = "".join(f"<div><dt>{escape(k)}</dt><dd>{escape(v)}</dd></div>" for k, v in figures)
    return f'<dl class="figures">{items}</dl>'


def _footer(trace: Trace) -> str:
    when = ""
    if trace.wall_start is not None:
        try:
            stamp = dt.datetime.fromtimestamp(trace.wall_start, dt.UTC)
            when = f" · recorded {stamp:%Y-%m-%d %H:%M:%S} UTC"
        except (OverflowError, OSError, ValueError):
            when = ""
    return f"<footer>volley trace{escape(when)} · times are seconds from each turn's start</footer>"


def _text(text: str) -> str:
    """Data from the run, for the page: invisible characters shown, markup escaped."""
    return escape(printable(text, keep="\n\t"))


def _excerpt(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + "…"
