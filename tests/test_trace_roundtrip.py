"""Traces survive the file exactly, and any prefix of a file (a crashed run) still reads.

Random traces (odd ones included: duplicate call ids, broken streams, a turn that never ended,
a run that never answered) are turned into the events an agent would emit, recorded by a
`TraceRecorder`, and read back: the result must equal the trace it came from, field by field.
The same traces must draw in the terminal and as HTML without failing.
"""

from __future__ import annotations

import io
import random
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from _hyp import examples
from hypothesis import given
from hypothesis import strategies as st
from rich.cells import cell_len
from rich.console import Console

from volley import (
    BatchStats,
    CallFinished,
    CallStarted,
    CallTiming,
    ErrorKind,
    ModelTurn,
    RunEvent,
    RunFailed,
    RunFinished,
    RunResult,
    RunStarted,
    RunStats,
    ToolCall,
    ToolResult,
    TurnFinished,
    TurnRetried,
    TurnStats,
)
from volley.trace import Trace, TraceCall, TraceRecorder, TraceTurn, html, load_trace, timeline

LIMIT = 100_000
"""The recorder's cap in these tests: larger than anything generated, so nothing is cut."""

SETTINGS = examples(150)

times = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)
counts = st.integers(0, 10**7)
texts = st.text(max_size=30)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**12), 10**12)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=8,
)
arguments = st.dictionaries(st.text(max_size=6), json_values, max_size=3) | texts
ids = st.sampled_from(["a", "b", "call_1"]) | st.text(max_size=6)  # duplicates are likely
error_kinds = st.none() | st.sampled_from(
    [k.value for k in ErrorKind if k is not ErrorKind.DUPLICATE_ID]  # see test_trace_record.py
)


def calls(turn: int) -> st.SearchStrategy[TraceCall]:
    return st.builds(
        TraceCall,
        turn=st.just(turn),
        id=ids,
        name=st.sampled_from(["read", "write", "<b>"]) | texts,
        arguments=arguments,
        early=st.booleans(),
        arguments_done=times,
        started=st.none() | times,
        ended=st.none() | times,
        is_error=st.booleans(),
        error_kind=error_kinds,
        content=texts,
        duplicate_of=st.none() | ids,
        attempts=st.integers(0, 5),
    )


batches = st.builds(
    BatchStats,
    calls=counts,
    failed=counts,
    deduplicated=counts,
    wall_time=times,
    busy_time=times,
    peak_concurrency=counts,
    critical_path=times,
)


@st.composite
def turn_stats(draw: Any, index: int, calls: tuple[TraceCall, ...], retries: int) -> TurnStats:
    timeline = tuple(
        CallTiming(
            c.id,
            c.name,
            c.arguments_done,
            draw(st.none() | times),
            draw(times),
            draw(st.booleans()),
        )
        for c in calls
    )
    return TurnStats(
        index=index,
        calls=len(calls),
        started_at=draw(times),
        message_ended_at=draw(times),
        ended_at=draw(times),
        input_tokens=draw(counts),
        output_tokens=draw(counts),
        batch=draw(st.none() | batches),
        streamed=draw(st.booleans()),
        timeline=timeline,
        retries=retries,
    )


@st.composite
def traces(draw: Any) -> Trace:
    count = draw(st.integers(0, 4))
    answered = draw(st.booleans())
    last_unfinished = not answered and count > 0 and draw(st.booleans())
    turns = []
    for index in range(1, count + 1):
        retry_errors = tuple(draw(st.lists(texts, max_size=2)))
        discarded = tuple(draw(st.lists(calls(index), max_size=3))) if retry_errors else ()
        current = tuple(draw(st.lists(calls(index), max_size=4)))
        if index == count and last_unfinished:
            if not (current or discarded or retry_errors):  # else nothing of it was recorded
                current = (draw(calls(index)),)
            turns.append(TraceTurn(index, current, None, "", discarded, retry_errors))
            continue
        stats = draw(turn_stats(index, current, len(retry_errors)))
        turns.append(TraceTurn(index, current, stats, draw(texts), discarded, retry_errors))
    run = None
    if answered:
        run = RunStats(tuple(t.stats for t in turns if t.stats is not None), draw(times))
    meta = draw(st.dictionaries(st.text(max_size=5), json_values, max_size=3))
    started_at = draw(st.none() | times)
    if started_at is not None:  # the run's start was recorded, with its prompt and model
        meta |= {"prompt": draw(texts), "model": draw(texts)}
    failed = not answered and draw(st.booleans())
    return Trace(
        turns=tuple(turns),
        meta=meta,
        started_at=started_at,
        stats=run,
        output=draw(texts) if answered else None,
        error=f"RuntimeError: {draw(st.text(min_size=1, max_size=20))}" if failed else None,
        failed_at=draw(times) if failed else None,
    )


def events_of(trace: Trace, shuffle: random.Random) -> list[RunEvent]:
    """What an agent would have emitted for `trace` (results in a random order per attempt)."""
    events: list[RunEvent] = []
    if trace.started_at is not None:
        events.append(RunStarted(trace.meta["prompt"], trace.meta["model"], trace.started_at))

    def attempt(turn: int, calls: tuple[TraceCall, ...]) -> None:
        finished = []
        for c in calls:
            call = ToolCall(c.id, c.name, c.arguments)
            events.append(CallStarted(turn, call, c.arguments_done, c.early))
            kind = None if c.error_kind is None else ErrorKind(c.error_kind)
            result = ToolResult(
                c.id,
                c.name,
                c.content,
                is_error=c.is_error,
                error_kind=kind,
                started_at=c.started,
                ended_at=c.ended,
                attempts=c.attempts,
                duplicate_of=c.duplicate_of,
            )
            finished.append(CallFinished(turn, result))
        # Any order, except that calls sharing an id end in the order they started (which is
        # all a result can be matched by, as in a batch: only the first of an id runs).
        slots = list(range(len(finished)))
        shuffle.shuffle(slots)
        by_id: dict[str, list[CallFinished]] = {}
        for event in finished:
            by_id.setdefault(event.result.call_id, []).append(event)
        shuffled = [finished[k] for k in slots]
        events.extend(by_id[e.result.call_id].pop(0) for e in shuffled)

    for turn in trace.turns:
        attempt(turn.index, turn.discarded)  # all in the first attempt: the order is what counts
        events += [TurnRetried(turn.index, error) for error in turn.retry_errors]
        attempt(turn.index, turn.calls)
        if turn.stats is not None:
            message = ModelTurn(
                text=turn.text, calls=tuple(ToolCall(c.id, c.name) for c in turn.calls)
            )
            events.append(TurnFinished(turn.index, message, (), turn.stats))
    if trace.stats is not None:
        assert trace.output is not None
        events.append(RunFinished(RunResult(trace.output, [], trace.stats)))
    if trace.error is not None:
        assert trace.failed_at is not None
        error = RuntimeError(trace.error.removeprefix("RuntimeError: "))
        events.append(RunFailed(error, trace.failed_at))
    return events


def record(trace: Trace, path: Path, shuffle: random.Random) -> Path:
    told = dict(trace.meta)
    if trace.started_at is not None and shuffle.random() < 0.5:  # left to the start event
        told.pop("prompt")
        told.pop("model")
    with TraceRecorder(path, told, max_content=LIMIT) as recorder:
        for event in events_of(trace, shuffle):
            recorder(event)
    return path


@given(traces(), st.randoms(use_true_random=False))
@SETTINGS
def test_a_recorded_trace_reads_back_exactly(tmp_path: Path, trace: Trace, shuffle: Any) -> None:
    loaded = load_trace(record(trace, tmp_path / "run.jsonl", shuffle))
    assert isinstance(loaded.wall_start, float)
    assert replace(loaded, wall_start=None) == trace
    assert loaded.finished == trace.finished
    assert not loaded.truncated


@given(traces(), st.randoms(use_true_random=False), st.data())
@SETTINGS
def test_any_prefix_of_a_trace_reads_as_the_run_so_far(
    tmp_path: Path, trace: Trace, shuffle: Any, data: Any
) -> None:
    path = record(trace, tmp_path / "run.jsonl", shuffle)
    whole = path.read_bytes()
    header_end = whole.index(b"\n") + 1
    cut = header_end + data.draw(st.integers(0, 10**9)) % (len(whole) - header_end + 1)
    prefix = whole[:cut]
    complete, _, rest = prefix.rpartition(b"\n")
    line_end = whole.find(b"\n", cut)
    whole_line = whole[len(complete) + 1 : line_end] if complete else b""
    if rest and rest == whole_line:  # cut just before a newline: the line is whole
        expected_bytes, truncated = prefix + b"\n", False
    else:
        expected_bytes, truncated = complete + b"\n", bool(rest.strip())
    (tmp_path / "cut.jsonl").write_bytes(prefix)
    (tmp_path / "expected.jsonl").write_bytes(expected_bytes)
    loaded = load_trace(tmp_path / "cut.jsonl")
    assert loaded.truncated == truncated
    assert replace(loaded, truncated=False) == load_trace(tmp_path / "expected.jsonl")
    # Complete turns of the prefix are the trace's own turns.
    for turn in loaded.turns:
        if turn.finished:
            assert turn == trace.turns[turn.index - 1]


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: set[str] = set()
        self.attributes: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self.attributes.update(name for name, _ in attrs)


PAGE_TAGS = {
    "html", "head", "meta", "title", "style", "body", "main", "header", "section", "footer",
    "h1", "h2", "p", "span", "dl", "div", "dt", "dd", "ul", "li", "details", "summary",
    "table", "thead", "tbody", "tr", "th", "td", "pre", "small", "b", "br",
    "svg", "defs", "pattern", "rect", "line", "path", "text", "tspan", "g",
}  # fmt: skip


untils = st.none() | st.floats() | times
"""A compact timeline's shared axis: any length, even a nonsensical one (negative, NaN)."""


@given(traces(), st.integers(20, 220), untils, st.booleans())
@SETTINGS
def test_any_trace_draws_in_a_terminal_of_any_width_and_as_html(
    trace: Trace, width: int, until: float | None, legend: bool
) -> None:
    views = (timeline(trace), timeline(trace, compact=True, until=until, legend=legend))
    for view in views:
        out = io.StringIO()
        Console(file=out, width=width, color_system="truecolor", force_terminal=True).print(view)
        plain = io.StringIO()
        Console(file=plain, width=width, color_system=None).print(view)
        assert all(cell_len(line) <= width for line in plain.getvalue().splitlines())
        assert "\x1b" not in plain.getvalue()  # nothing from the data drives the terminal
    compact = plain.getvalue().splitlines()
    calls = sum(len(turn.calls) + len(turn.discarded) for turn in trace.turns)
    model = next(k for k, line in enumerate(compact) if line.startswith("model"))
    axis = model + 1 + calls + (trace.failed_at is not None) + (not trace.turns)
    assert "╵" in compact[axis]  # the model's lane, then one line per call: never wrapped
    page = html(trace)
    parser = Tags()
    parser.feed(page)
    assert parser.tags <= PAGE_TAGS, parser.tags - PAGE_TAGS
    assert not any(a.startswith("on") for a in parser.attributes)
