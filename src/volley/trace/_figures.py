"""The figures shown next to a timeline, as (label, value) pairs, for the terminal and the page.

Only figures that say something are listed (no "saved 0 ms" on a turn without calls), so that a
turn's line stays short enough to read at a glance.
"""

from __future__ import annotations

from ._model import Trace, TraceTurn
from ._units import printable, seconds, tokens

__all__ = ["run_figures", "run_status", "run_title", "turn_figures"]

TIMES = "\u00d7"
"""The multiplication sign, as in "parallelism x2.9" (written as an escape for linters)."""


def run_title(trace: Trace) -> str:
    """What the run was, from its meta: the model, if the recorder was told."""
    model = trace.meta.get("model")
    return (
        f"volley trace · {printable(model)}" if isinstance(model, str) and model else "volley trace"
    )


def run_figures(trace: Trace) -> list[tuple[str, str]]:
    """The whole run: round trips, calls per turn, time, what concurrency saved, tokens."""
    stats = trace.figures
    figures = [
        ("round trips", str(len(trace.turns))),
        ("calls per turn", " · ".join(str(len(t.calls)) for t in trace.turns) or "none"),
        ("wall time", seconds(stats.wall_time)),
        ("model", seconds(stats.model_time)),
        ("tools", seconds(stats.tool_time)),
        ("saved by parallel calls", seconds(stats.time_saved)),
    ]
    if any(t.streamed for t in stats.turns):
        figures.append(("saved by early dispatch", seconds(stats.early_dispatch_saved)))
    figures.append(
        ("tokens", f"{tokens(stats.input_tokens)} in · {tokens(stats.output_tokens)} out")
    )
    retries = sum(t.retries for t in trace.turns)
    if retries:
        figures.append(("broken streams retried", str(retries)))
    return figures


def run_status(trace: Trace) -> str | None:
    """A warning if the trace is not a whole run, else `None`."""
    if trace.finished and not trace.truncated:
        return None
    parts = []
    if trace.error is not None:
        parts.append(f"the run failed: {printable(trace.error)}")
    elif not trace.finished:
        parts.append("the run never finished (a crash, or it is still going)")
    if trace.truncated:
        parts.append("the file's last line was cut off and skipped")
    return "; ".join(parts)


def turn_figures(turn: TraceTurn) -> list[tuple[str, str]]:
    """One round trip: its time, its calls, how much they overlapped, what that saved, tokens."""
    stats = turn.stats
    failed = sum(c.is_error for c in turn.calls)
    calls = f"{len(turn.calls)}" + (f" ({failed} failed)" if failed else "")
    if stats is None:
        figures = [("calls recorded", calls)]
    else:
        figures = [("round trip", seconds(stats.wall_time)), ("calls", calls)]
        if stats.batch is not None and stats.batch.wall_time > 0:
            figures.append(("parallelism", f"{TIMES}{stats.batch.parallelism:.1f}"))
        if stats.time_saved > 0:
            figures.append(("saved", seconds(stats.time_saved)))
        if stats.early_dispatch_saved > 0:
            figures.append(("early dispatch saved", seconds(stats.early_dispatch_saved)))
        figures.append(
            ("tokens", f"{tokens(stats.input_tokens)} in · {tokens(stats.output_tokens)} out")
        )
    if turn.retries:
        figures.append(("retried", f"{turn.retries}{TIMES}"))
    return figures
