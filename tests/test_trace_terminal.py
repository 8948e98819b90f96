"""The terminal timeline: fits any width, tells bars apart, survives odd traces."""

from __future__ import annotations

import io
from dataclasses import replace

import pytest
from _trace_samples import known_trace, realistic_trace
from rich.cells import cell_len
from rich.console import Console
from rich.segment import Segment

from volley import CallTiming, TurnStats
from volley.trace import Trace, TraceCall, TraceTurn, timeline
from volley.trace._terminal import COLOURS


def plain(trace: Trace, width: int) -> list[str]:
    out = io.StringIO()
    Console(file=out, width=width, color_system=None).print(timeline(trace))
    return out.getvalue().splitlines()


def coloured_lines(trace: Trace, width: int) -> list[tuple[str, set[str]]]:
    """Each line's text and the colours of its bar glyphs."""
    console = Console(file=io.StringIO(), width=width, color_system="truecolor")
    lines = []
    for line in Segment.split_lines(console.render(timeline(trace))):
        text = "".join(s.text for s in line)
        colours = {
            str(s.style.color.triplet.hex)
            for s in line
            if s.style and s.style.color and s.style.color.triplet and "█" in s.text
        }
        lines.append((text, colours))
    return lines


def row(lines: list[tuple[str, set[str]]], start: str) -> set[str]:
    return next(colours for text, colours in lines if text.startswith(start))


@pytest.mark.parametrize("width", [60, 100, 200])
def test_a_realistic_run_fits_the_terminal(width: int) -> None:
    lines = plain(realistic_trace(), width)
    assert all(cell_len(line) <= width for line in lines)
    text = "\n".join(lines)
    expected_texts = (
        *("Turn 1", "Turn 2", "Turn 3", "round trips 3", "3 · 4 · 0", "\u00d71.3"),
        *("early dispatch saved", "1,850 in", "never ran", "arguments complete"),
    )
    for expected in expected_texts:
        assert expected in text, expected
    bars = [line for line in lines if line.startswith(("model", "read_file", "search_code"))]
    assert len(bars) == 3 + 3 + 1 + 1  # models, turn 1's reads, turn 2's reads
    assert any("┄" in line for line in lines if line.startswith("write_file"))  # held back


def test_the_kinds_of_bar_have_their_own_colours() -> None:
    lines = coloured_lines(realistic_trace(), 120)
    assert row(lines, "model") == {COLOURS["model"]}
    assert row(lines, "read_file src/app.py") == {COLOURS["early"]}
    assert row(lines, "read_file src/legacy.py") == {COLOURS["error"]}
    assert row(lines, "write_file") == {COLOURS["call"]}
    assert len(set(COLOURS.values())) == len(COLOURS)


def test_bars_sit_where_their_times_put_them() -> None:
    lines = plain(known_trace(), 120)
    label_end = next(line for line in lines if line.startswith("model")).index("█")
    width = len(next(line for line in lines if "└" in line).rstrip()) - label_end

    def span(start: str) -> tuple[float, float]:
        line = next(line for line in lines if line.startswith(start))
        cells = [k for k, c in enumerate(line) if c == "█"]
        return (cells[0] - label_end) / width, (cells[-1] + 1 - label_end) / width

    for name, (begin, end) in {"model": (0, 0.5), "fetch": (0.1, 1), "lookup": (0.5, 0.75),
                               "store": (0.6, 0.9)}.items():  # fmt: skip
        got = span(name)
        assert abs(got[0] - begin) <= 0.03, (name, got)
        assert abs(got[1] - end) <= 0.03, (name, got)


def odd_traces() -> dict[str, Trace]:
    call = TraceCall(1, "c", "tool", {}, False, 1.0, 1.0, 1.0, False, None, "")
    never = replace(call, id="n", started=None, ended=None, is_error=True, error_kind="cancelled")
    stats = TurnStats(
        1, 1, 1.0, 1.0, 1.0, 0, 0, timeline=(CallTiming("c", "tool", 1, 1, 1, False),)
    )
    return {
        "no turns": Trace(()),
        "failed": Trace(
            (TraceTurn(1, (never,), None),), error="IncompleteTurn: cut\x1b[2J", failed_at=3.0
        ),
        "instant turn, zero-length call": Trace((TraceTurn(1, (call,), stats),)),
        "never started": Trace((TraceTurn(1, (never,), None),)),
        "retried": Trace((TraceTurn(1, (call,), None, "", (never, call), ("dropped\x1b[2J",)),)),
        "times out of order": Trace(
            (TraceTurn(1, (replace(call, started=5.0, ended=2.0, arguments_done=9.0),), stats),)
        ),
        "hours apart": Trace((TraceTurn(1, (replace(call, ended=7200.0),), stats),)),
        "hostile names": Trace(
            (
                TraceTurn(
                    1, (replace(call, name="\x1b]0;pwned\x07x" * 5, arguments="\u202e" * 3),), None
                ),
            ),
            meta={"model": "\x1b[31mred", "prompt": "a\nb\x1b[2J"},
            truncated=True,
        ),
    }


@pytest.mark.parametrize("name", list(odd_traces()))
@pytest.mark.parametrize("width", [20, 60, 160])
def test_odd_traces_draw_without_failing(name: str, width: int) -> None:
    trace = odd_traces()[name]
    lines = plain(trace, width)
    assert all(cell_len(line) <= width for line in lines)
    text = "\n".join(lines)
    assert "\x1b" not in text
    assert "\u202e" not in text
    if trace.turns and not trace.turns[0].finished and width >= 60:
        assert "did not finish" in text
    if name == "failed" and width >= 60:
        assert "the run failed: IncompleteTurn: cut" in text
        assert any(line.startswith("run failed") and line.endswith("✕") for line in lines)
    if name == "never started" and width >= 60:
        assert "✕" in text
        assert "never ran" in text
