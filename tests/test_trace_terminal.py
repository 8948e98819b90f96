"""The terminal timeline: fits any width, tells bars apart, survives odd traces."""

from __future__ import annotations

import io
import math
from dataclasses import replace
from typing import Any

import pytest
from _trace_samples import known_trace, realistic_trace
from rich.cells import cell_len
from rich.console import Console
from rich.segment import Segment

from volley import CallTiming, RunStats, TurnStats
from volley.trace import Trace, TraceCall, TraceTurn, timeline, timeline_legend
from volley.trace._glyphs import DURATION_WIDTH
from volley.trace._terminal import COLOURS


def plain(trace: Trace, width: int, **options: Any) -> list[str]:
    out = io.StringIO()
    Console(file=out, width=width, color_system=None).print(timeline(trace, **options))
    return out.getvalue().splitlines()


def coloured_lines(trace: Trace, width: int, **options: Any) -> list[tuple[str, set[str]]]:
    """Each line's text and the colours of its bar glyphs."""
    console = Console(file=io.StringIO(), width=width, color_system="truecolor")
    lines = []
    for line in Segment.split_lines(console.render(timeline(trace, **options))):
        text = "".join(s.text for s in line)
        colours = {
            str(s.style.color.triplet.hex)
            for s in line
            if s.style and s.style.color and s.style.color.triplet and {"█", "▓"} & set(s.text)
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
    for until in (None, 0.0, -1.0, math.nan, math.inf, 1e12):
        lines = plain(trace, width, compact=True, until=until)
        assert all(cell_len(line) <= width for line in lines)
        assert "\x1b" not in "\n".join(lines)
        assert "\u202e" not in "\n".join(lines)
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


# The compact view: the whole run on one axis, a line per call.


def axis_of(lines: list[str], width: int) -> tuple[int, int]:
    """Where the bars begin (the axis's first tick) and how many cells they span."""
    origin = next(line for line in lines if "╵0" in line).index("╵0")
    return origin, width - origin - DURATION_WIDTH


def bar_span(line: str, origin: int, cells: int) -> tuple[float, float]:
    """Where a line's bar (or the model's bars) begins and ends, as fractions of the axis."""
    bar = [k for k, c in enumerate(line) if c in "█▓" or (c.isdigit() and k >= origin)]
    bar = [k for k in bar if origin <= k < origin + cells]
    return (bar[0] - origin) / cells, (bar[-1] + 1 - origin) / cells


@pytest.mark.parametrize("width", [40, 110, 200])
def test_the_compact_view_is_a_line_per_call_and_fits(width: int) -> None:
    lines = plain(realistic_trace(), width, compact=True)
    assert all(cell_len(line) <= width for line in lines)
    assert sum(line.startswith("model ") for line in lines) == 1
    assert sum(line.startswith("1 ") for line in lines) == 3  # turn 1's reads
    assert sum(line.startswith("2 ") for line in lines) == 4  # turn 2's four calls
    assert not any(line.startswith("Turn ") for line in lines)  # no per-turn sections
    text = "\n".join(lines)
    for expected in ("round trips 3", "calls per turn 3, 4, 0", "wall time", "11,080 in"):
        assert expected in text.replace("\n", " "), expected
    if width >= 110:
        assert lines[0].startswith("volley trace · anthropic:claude-sonnet-4-6 · round trips 3")
        assert "the model's turns, numbered" in text  # the compact view's legend
    model = next(k for k, line in enumerate(lines) if line.startswith("model "))
    axis = next(k for k, line in enumerate(lines) if "╵0" in line)
    assert axis == model + 1 + 7  # the model's lane, a line per call, the axis


def test_the_compact_view_has_the_full_views_colours() -> None:
    lines = coloured_lines(realistic_trace(), 120, compact=True)
    assert row(lines, "model") == {COLOURS["model"]}
    assert row(lines, "1 read_file src/app.py") == {COLOURS["early"]}
    assert row(lines, "1 read_file src/legacy.py") == {COLOURS["error"]}
    assert row(lines, "2 write_file") == {COLOURS["call"]}
    assert any("┄" in text for text, _ in lines if text.startswith("2 write_file"))  # held back


def test_compact_bars_sit_on_the_runs_axis() -> None:
    lines = plain(known_trace(), 120, compact=True)
    origin, cells = axis_of(lines, 120)
    model = next(line for line in lines if line.startswith("model"))
    assert model[origin] == "1"  # turn 1's number where its bar starts
    assert "2▓" in model  # turn 2 shaded apart
    expected = {"1 fetch": (0.08, 0.8), "1 lookup": (0.4, 0.6), "1 store": (0.48, 0.72)}
    for start, (begin, end) in expected.items():
        got = bar_span(next(line for line in lines if line.startswith(start)), origin, cells)
        assert abs(got[0] - begin) <= 0.03, (start, got)
        assert abs(got[1] - end) <= 0.03, (start, got)
    # The model's lane: turn 1 from 0 to 1 s, turn 2 from 2 to 2.5 s, of 2.5 s.
    assert abs(bar_span(model, origin, cells)[1] - 1.0) <= 0.03
    assert model[origin + int(0.5 * cells)] == " "  # between the turns: the calls ran


def scaled(trace: Trace, k: float) -> Trace:
    """`trace` with every time multiplied by `k`: the same run, `k` times as long."""

    def time(t: float | None) -> float | None:
        return None if t is None else t * k

    def call(c: TraceCall) -> TraceCall:
        return replace(c, arguments_done=c.arguments_done * k, started=time(c.started),
                       ended=time(c.ended))  # fmt: skip

    turns = []
    for turn in trace.turns:
        stats = turn.stats
        if stats is not None:
            stats = replace(stats, started_at=stats.started_at * k,
                            message_ended_at=stats.message_ended_at * k,
                            ended_at=stats.ended_at * k)  # fmt: skip
        turns.append(replace(turn, calls=tuple(map(call, turn.calls)), stats=stats))
    assert trace.stats is not None
    run = RunStats(tuple(t.stats for t in turns if t.stats is not None), trace.stats.wall_time * k)
    return replace(trace, turns=tuple(turns), stats=run)


@pytest.mark.parametrize("width", [80, 110, 160])
def test_runs_drawn_until_the_same_time_compare_by_length(width: int) -> None:
    long, short = known_trace(), scaled(known_trace(), 0.5)
    until = long.figures.wall_time  # 2.5 s
    drawn = {name: plain(t, width, compact=True, until=until) for name, t in
             {"long": long, "short": short}.items()}  # fmt: skip
    axes = {name: next(line for line in lines if "╵0" in line) for name, lines in drawn.items()}
    assert axes["long"] == axes["short"]  # one scale
    origin, cells = axis_of(drawn["long"], width)
    for start in ("model", "1 fetch", "1 lookup", "1 store"):
        long_span, short_span = (
            bar_span(next(line for line in drawn[name] if line.startswith(start)), origin, cells)
            for name in ("long", "short")
        )
        for long_end, short_end in zip(long_span, short_span, strict=True):
            assert abs(short_end - long_end / 2) <= 1.5 / cells + 0.01, (start, width)
    short_model = next(line for line in drawn["short"] if line.startswith("model"))
    assert abs(bar_span(short_model, origin, cells)[1] - 0.5) <= 1 / cells + 0.01
    # Alone, the short run fills the axis as the long one does.
    alone = plain(short, width, compact=True)
    model = next(line for line in alone if line.startswith("model"))
    assert abs(bar_span(model, origin, cells)[1] - 1.0) <= 1 / cells + 0.01
    # An `until` shorter than the run cannot cut it: the axis still spans the whole run.
    cut = plain(long, width, compact=True, until=1.0)
    assert cut == plain(long, width, compact=True)


def one_call_per_turn(turns: int) -> Trace:
    """Like the demo's ten files read one per turn: `turns - 1` quick calls, then the answer."""
    made, stats = [], []
    for index in range(1, turns + 1):
        start = (index - 1) * 0.2
        end = start + 0.19
        calls = ()
        if index < turns:
            calls = (TraceCall(index, f"c{index}", "read_file", {"path": f"notes/{index:02}.md"},
                               False, end, end, end + 0.001, False, None, "ok"),)  # fmt: skip
        timing = tuple(CallTiming(c.id, c.name, end, end, end + 0.001, False) for c in calls)
        stats.append(TurnStats(index, len(calls), start, end, start + 0.2, 100 * index, 10,
                               timeline=timing))  # fmt: skip
        made.append(TraceTurn(index, calls, stats[-1]))
    return Trace(tuple(made), stats=RunStats(tuple(stats), turns * 0.2))


def test_eleven_turns_stay_one_line_each_and_apart() -> None:
    lines = plain(one_call_per_turn(11), 110, compact=True, legend=False)
    assert len(lines) == 1 + 1 + 10 + 1  # figures, model, a line per call, axis
    assert all(cell_len(line) <= 110 for line in lines)
    assert "round trips 11 · calls per turn 1\u00d710, 0" in lines[0]
    model = lines[1]
    numbers = [int(n) for n in "".join(c if c.isdigit() else " " for c in model[6:]).split()]
    assert numbers[:11] == list(range(1, 12))  # every turn numbered, in order
    assert "█" in model  # neighbours shaded apart
    assert "▓" in model
    calls = lines[2:-1]
    assert [line.split()[0] for line in calls] == [f"{k:>2}".strip() for k in range(1, 11)]
    assert calls[0].startswith(" 1 read_file notes/01.md")  # turn numbers aligned
    assert calls[9].startswith("10 read_file notes/10.md")
    ends = [max(k for k, c in enumerate(line) if c == "█") for line in calls]
    assert ends == sorted(ends)  # each call later than the one before
    assert len(set(ends)) == 10


def test_the_compact_view_takes_a_title_and_leaves_the_legend_out() -> None:
    lines = plain(known_trace(), 110, compact=True, legend=False, title="parallel")
    assert lines[0].startswith("parallel · round trips 2 · calls per turn 3, 0 · wall time 2.50 s")
    assert "arguments complete" not in "\n".join(lines)
    full = plain(known_trace(), 110, legend=False, title="parallel")
    assert "parallel" in full[0]
    assert "arguments complete" not in "\n".join(full)
    assert "arguments complete" in "\n".join(plain(known_trace(), 110))


def test_the_compact_view_names_a_url_by_its_last_part() -> None:
    url = "https://example.com/pages/structured-concurrency"
    trace = known_trace()
    first = trace.turns[0]
    calls = (replace(first.calls[0], arguments={"url": url}), *first.calls[1:])
    trace = replace(trace, turns=(replace(first, calls=calls), *trace.turns[1:]))
    lines = plain(trace, 120, compact=True)
    assert any(line.startswith("1 fetch …/structured-concurrency") for line in lines)
    assert any(line.startswith("1 store k, 1 ") for line in lines)  # values only


@pytest.mark.parametrize("width", [20, 60, 120])
def test_the_legend_prints_alone_at_any_width(width: int) -> None:
    for compact in (False, True):
        out = io.StringIO()
        Console(file=out, width=width, color_system=None).print(timeline_legend(compact=compact))
        lines = out.getvalue().splitlines()
        assert all(cell_len(line) <= width for line in lines)
        text = " ".join(" ".join(lines).split())
        assert "arguments complete" in text
        assert ("the model's turns, numbered" in text) == compact
