"""Recording real agent runs (scripted model, real tools, virtual time) and reading them back."""

from __future__ import annotations

import json
import logging
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from _trace_samples import FIX, META, SCRIPT, Say, realistic_run, run_script

from volley import (
    CallFinished,
    IncompleteTurn,
    RunEvent,
    RunFinished,
    RunResult,
    RunStarted,
    ToolCall,
    TurnFinished,
    TurnRetried,
    Usage,
)
from volley.trace import Trace, TraceRecorder, load_trace


def only_recorded(trace: Trace) -> Trace:
    """`trace` without what only a recording knows (a result has no clock readings of its own)."""
    return replace(trace, wall_start=None, started_at=None)


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_a_recorded_run_reads_back_as_the_trace_of_its_result(tmp_path: Path) -> None:
    result = realistic_run(tmp_path / "run.jsonl")
    loaded = load_trace(tmp_path / "run.jsonl")
    assert only_recorded(loaded) == Trace.from_result(result, META)
    assert loaded.finished
    assert not loaded.truncated
    assert loaded.meta == META
    assert [len(t.calls) for t in loaded.turns] == [3, 4, 0]
    first, second, _ = loaded.turns
    assert [c.early for c in first.calls] == [True, True, True]
    assert [c.early for c in second.calls] == [True, True, False, False]  # the write waited
    assert second.calls[2].arguments_done < second.stats.message_ended_at <= second.calls[2].started  # type: ignore[union-attr,operator]
    failed = first.calls[2]
    assert failed.is_error
    assert failed.error_kind == "exception"
    assert "no such file" in failed.content
    assert loaded.output == result.output
    assert loaded.stats == result.stats


def test_the_file_has_one_record_per_event_worth_keeping(tmp_path: Path) -> None:
    realistic_run(tmp_path / "run.jsonl")
    records = lines(tmp_path / "run.jsonl")
    assert [r["type"] for r in records] == (
        ["trace", "start"] + ["call"] * 3 + ["turn"] + ["call"] * 4 + ["turn", "turn", "end"]
    )
    header = records[0]
    assert header["version"] == 1
    assert header["meta"] == META
    assert isinstance(header["wall_start"], float)
    start = records[1]
    assert start == {"type": "start", "prompt": META["prompt"], "model": "function:scripted",
                     "at": 0.0}  # fmt: skip
    write = next(r for r in records if r["type"] == "call" and r["name"] == "write_file")
    assert write["arguments"] == {"path": "src/util.py", "content": FIX}
    assert write["early"] is False
    assert write["turn"] == 2
    assert write["order"] == 2
    end = records[-1]
    assert end["figures"]["calls_per_turn"] == [3, 4, 0]
    assert end["output"].startswith("Fixed:")


def test_each_line_is_on_disk_as_soon_as_its_event_happens(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    recorder = TraceRecorder(path, META)
    seen: list[int] = []
    kept = 1  # the header

    def after(event: RunEvent) -> None:
        nonlocal kept
        recorder(event)
        if isinstance(event, RunStarted | CallFinished | TurnRetried | TurnFinished | RunFinished):
            kept += 1
        with path.open() as f:  # another reader, as `volley trace` on a running agent would
            seen.append(len(f.read().splitlines()))
        assert seen[-1] == kept

    from _trace_samples import TOOLS, ScriptedModel
    from _vtime import vrun

    from volley import Agent

    vrun(lambda: Agent(ScriptedModel(SCRIPT), TOOLS, observers=[after]).run("go"))
    assert recorder.closed
    assert seen[-1] == 1 + 1 + 7 + 3 + 1


def test_a_broken_stream_keeps_its_cancelled_calls_apart(tmp_path: Path) -> None:
    broken = replace(SCRIPT[0], breaks_after=2)  # two reads start, then the stream drops
    result, _ = run_script([broken, *SCRIPT], tmp_path / "run.jsonl")
    assert isinstance(result, RunResult)
    trace = load_trace(tmp_path / "run.jsonl")
    first = trace.turns[0]
    assert first.retries == 1
    assert first.stats is not None
    assert first.stats.retries == 1
    assert first.retry_errors == ("the stream broke: peer closed the connection",)
    assert [c.id for c in first.discarded] == ["c1", "c2"]
    assert all(c.error_kind == "cancelled" for c in first.discarded)
    assert [c.id for c in first.calls] == ["c1", "c2", "c3"]  # the same ids, asked again
    assert not any(c.is_error for c in first.calls[:2])
    # The result knows nothing of the broken attempt but its count: the rest is the same.
    from_result = Trace.from_result(result, META)
    assert only_recorded(trace).turns[1:] == from_result.turns[1:]
    assert replace(first, discarded=(), retry_errors=()) == from_result.turns[0]


def test_a_run_that_stops_reads_as_unfinished_with_what_it_did(tmp_path: Path) -> None:
    cut = replace(SCRIPT[1], stop="max_tokens")  # turn 2 is cut: its early reads are cancelled
    error, _ = run_script([SCRIPT[0], cut], tmp_path / "run.jsonl")
    assert isinstance(error, IncompleteTurn)
    trace = load_trace(tmp_path / "run.jsonl")
    assert not trace.finished
    assert trace.stats is None
    assert trace.output is None
    assert trace.error is not None
    assert trace.error.startswith("IncompleteTurn: turn 2 could not be used: the model ran out")
    assert trace.failed_at == 3.1  # the cut message ends 1.5 s into turn 2, at 1.6 s
    assert [t.finished for t in trace.turns] == [True, False]
    last = trace.turns[1]
    assert [c.id for c in last.calls] == ["c4", "c5"]  # the reads ran; the writes never started
    assert not any(c.is_error for c in last.calls)
    assert trace.figures.round_trips == 1


def test_calls_sharing_an_id_are_told_apart(tmp_path: Path) -> None:
    twins = Say(
        "Reading twice under one id.",
        [
            (0.1, ToolCall("x", "read_file", {"path": "src/app.py"})),
            (0.1, ToolCall("x", "read_file", {"path": "src/dates.py"})),
        ],
        0.1,
        Usage(10, 5),
    )
    result, _ = run_script([twins, SCRIPT[-1]], tmp_path / "run.jsonl")
    assert isinstance(result, RunResult)
    trace = load_trace(tmp_path / "run.jsonl")
    first, second = trace.turns[0].calls
    # A result cannot tell that the twin, which never ran, was handed over early.
    from_result = Trace.from_result(result, META)
    assert from_result.turns[0].calls == (first, replace(second, early=False))
    assert first.arguments == {"path": "src/app.py"}
    assert not first.is_error
    assert second.arguments == {"path": "src/dates.py"}
    assert second.error_kind == "duplicate_id"


def test_long_results_and_arguments_are_capped_the_same_both_ways(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    result, events = run_script(SCRIPT, None)
    assert isinstance(result, RunResult)
    with TraceRecorder(path, META, max_content=40) as recorder:
        for event in events:
            recorder(event)
    trace = load_trace(path)
    assert only_recorded(trace) == Trace.from_result(result, META, max_content=40)
    write = trace.turns[1].calls[2]
    assert isinstance(write.arguments, str)  # too long for the cap: kept as cut JSON text
    assert write.arguments.startswith('{"path": "src/util.py"')
    assert write.arguments.endswith(" more characters]")
    read = trace.turns[0].calls[0]
    assert read.content.startswith("# src/app.py")
    assert "more characters]" in read.content


def test_one_recorder_records_one_run(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "run.jsonl"
    _, events = run_script(SCRIPT, None)
    recorder = TraceRecorder(path, META)
    for event in events:
        recorder(event)
    before = path.read_text()
    with caplog.at_level(logging.WARNING, logger="volley"):
        for event in events:
            recorder(event)
    assert path.read_text() == before
    assert [r.message for r in caplog.records] == [
        f"trace {path} is closed: one recorder records one run"
    ]


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_a_recorder_that_cannot_write_never_breaks_the_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.ERROR, logger="volley"):
        recorder = TraceRecorder("/dev/full", META)
        _, events = run_script(SCRIPT, None)
        for event in events:
            recorder(event)
    assert recorder.closed
    assert len(caplog.records) == 1
    assert "recording stopped" in caplog.records[0].message


def test_meta_that_is_not_json_is_written_as_its_repr(tmp_path: Path) -> None:
    with TraceRecorder(tmp_path / "run.jsonl", {"tools": {"a"}, "started": 1.5}) as recorder:
        assert not recorder.closed
    trace = load_trace(tmp_path / "run.jsonl")
    assert trace.meta == {"tools": "{'a'}", "started": 1.5}
    assert trace.turns == ()
    assert not trace.finished
