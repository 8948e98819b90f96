"""Reading trace files: a cut last line and an unfinished run are normal, anything else is an
error that names the file, the line and what is wrong with it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from _trace_samples import realistic_run

from volley.trace import TraceError, load_trace

HEADER = {"type": "trace", "version": 1, "wall_start": 1.0, "meta": {"model": "m"}}
CALL = {
    "type": "call", "turn": 1, "attempt": 0, "order": 0, "id": "c1", "name": "read",
    "arguments": {"path": "a"}, "early": True, "dispatched": 0.5, "started": 0.5, "ended": 0.9,
    "is_error": False, "error_kind": None, "duplicate_of": None, "attempts": 1, "content": "A",
}  # fmt: skip
TURN = {
    "type": "turn", "turn": 1, "text": "", "calls": 1, "started_at": 0.0,
    "message_ended_at": 1.0, "ended_at": 1.0, "input_tokens": 10, "output_tokens": 2,
    "streamed": True, "retries": 0, "batch": None,
    "timeline": [{"call_id": "c1", "name": "read", "arguments_done": 0.4, "started": 0.5,
                  "ended": 0.9, "is_error": False}],
}  # fmt: skip
END = {"type": "end", "wall_time": 1.0, "output": "done"}


def write(tmp_path: Path, *records: Any, tail: bytes = b"") -> Path:
    path = tmp_path / "run.jsonl"
    text = "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records)
    path.write_bytes(text.encode() + tail)
    return path


def fails(path: Path, *fragments: str) -> None:
    with pytest.raises(TraceError) as error:
        load_trace(path)
    for fragment in (str(path), *fragments):
        assert fragment in str(error.value)


def test_a_whole_trace_reads_and_its_timeline_fills_in_the_calls(tmp_path: Path) -> None:
    trace = load_trace(write(tmp_path, HEADER, CALL, TURN, END))
    assert trace.finished
    assert not trace.truncated
    (call,) = trace.turns[0].calls
    assert call.arguments_done == 0.4  # from the timeline, not the moment of dispatch
    assert trace.output == "done"
    assert trace.stats is not None
    assert trace.stats.wall_time == 1.0
    assert trace.meta == {"model": "m"}
    assert trace.wall_start == 1.0


def test_a_cut_last_line_and_a_run_that_never_ended_are_normal(tmp_path: Path) -> None:
    cut = json.dumps(TURN)[:40].encode()
    trace = load_trace(write(tmp_path, HEADER, CALL, tail=cut))
    assert trace.truncated
    assert not trace.finished
    (turn,) = trace.turns
    assert not turn.finished
    assert turn.stats is None
    assert [c.arguments_done for c in turn.calls] == [0.5]  # dispatched: the best known


def test_a_last_line_without_its_newline_is_whole(tmp_path: Path) -> None:
    trace = load_trace(write(tmp_path, HEADER, CALL, TURN, tail=json.dumps(END).encode()))
    assert trace.finished
    assert not trace.truncated


def test_blank_lines_are_ignored(tmp_path: Path) -> None:
    assert load_trace(write(tmp_path, HEADER, "", CALL, "  ", TURN, END)).finished


def test_a_header_alone_is_a_run_that_did_nothing_yet(tmp_path: Path) -> None:
    trace = load_trace(write(tmp_path, HEADER))
    assert trace.turns == ()
    assert not trace.finished


@pytest.mark.parametrize(
    ("records", "tail", "fragments"),
    [
        ((), b"", ("no complete line",)),
        ((), b'{"type": "trace", "vers', ("no complete line",)),
        ((CALL,), b"", ("line 1", "not a volley trace")),
        ((HEADER, "{oops", CALL), b"", ("line 2", "not JSON")),
        ((HEADER, "[1, 2]"), b"", ("line 2", "not a trace record")),
        ((HEADER, {**CALL, "type": "mystery"}), b"", ("line 2", "unknown record type")),
        (({**HEADER, "version": 2},), b"", ("line 1", "newer volley")),
        ((HEADER, {k: v for k, v in CALL.items() if k != "ended"}), b"", ("line 2", "'ended'")),
        ((HEADER, {**CALL, "started": "soon"}), b"", ("line 2", "'started'", "number")),
        ((HEADER, {**CALL, "turn": True}), b"", ("line 2", "'turn'", "whole number")),
        ((HEADER, {**CALL, "arguments": [1]}), b"", ("line 2", "'arguments'")),
        ((HEADER, {**CALL, "turn": 2}), b"", ("line 2", "turn 2", "turn 1 is going")),
        ((HEADER, {**CALL, "attempt": 1}), b"", ("line 2", "attempt 1")),
        ((HEADER, CALL, TURN, END, CALL), b"", ("line 5", "after the run's end")),
        ((HEADER, CALL, END), b"", ("line 3", "still going")),
        ((HEADER, HEADER), b"", ("line 2", "second 'trace' header")),
        ((HEADER, TURN), b"", ("line 2", "'c1'", "never recorded")),
        ((HEADER, CALL, {**CALL, "id": "c9"}, TURN), b"", ("line 4", "c9", "not in the turn")),
        ((HEADER, CALL, {**TURN, "timeline": "none"}), b"", ("line 3", "'timeline'")),
        ((HEADER, CALL, {**TURN, "batch": {"calls": 1}}), b"", ("line 3", "batch", "'failed'")),
    ],
)
def test_anything_else_is_refused_naming_the_line(
    tmp_path: Path, records: tuple[Any, ...], tail: bytes, fragments: tuple[str, ...]
) -> None:
    fails(write(tmp_path, *records, tail=tail), *fragments)


def test_times_must_be_finite(tmp_path: Path) -> None:
    path = write(tmp_path, HEADER, json.dumps(CALL).replace('"started": 0.5', '"started": NaN'))
    fails(path, "line 2", "'started'", "finite")


def test_lines_must_be_utf8(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    path.write_bytes(json.dumps(HEADER).encode() + b"\n\xff\xfe\n")
    fails(path, "line 2", "UTF-8")


def test_a_real_trace_cut_anywhere_in_its_last_line_still_reads(tmp_path: Path) -> None:
    realistic_run(tmp_path / "whole.jsonl")
    data = (tmp_path / "whole.jsonl").read_bytes()
    start = data.rindex(b"\n", 0, len(data) - 1) + 1
    for cut in range(start + 1, len(data) - 1, 7):
        (tmp_path / "cut.jsonl").write_bytes(data[:cut])
        trace = load_trace(tmp_path / "cut.jsonl")
        assert trace.truncated
        assert not trace.finished
        assert len(trace.turns) == 3
