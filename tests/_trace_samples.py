"""Runs to trace: a realistic streamed run in virtual time, and hand-built traces of known shape.

`realistic_run` plays a scripted, streaming model against real volley tools on a `looptime` loop,
so its figures are exact and the same on every machine: three reads at once (one fails), then
two early reads and a write held until the message ends (then the tests run after it), then the
answer. `known_trace` has round numbers, so a picture of it can be checked by geometry.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _vtime import vrun

from volley import (
    Agent,
    BatchStats,
    CallTiming,
    ModelTurn,
    RunEvent,
    RunResult,
    RunStats,
    ToolCall,
    TurnStats,
    Usage,
    tool,
)
from volley.providers import ModelRequest, streams
from volley.trace import Trace, TraceCall, TraceRecorder, TraceTurn

READS = {"src/app.py": 0.45, "src/util.py": 0.9, "src/dates.py": 0.3}


@tool(effects="read")
async def read_file(path: str) -> str:
    """Read a file."""
    await asyncio.sleep(READS.get(path, 0.05))
    if path not in READS:
        raise FileNotFoundError(f"no such file: {path}")
    return f"# {path}\ndef parse_date(text):\n    return datetime.fromisoformat(text)\n"


@tool(effects="read")
async def search_code(pattern: str) -> str:
    """Search the code."""
    await asyncio.sleep(0.5)
    return f"src/util.py:12: {pattern}(value)\nsrc/app.py:40: {pattern}(request.date)"


@tool(effects="write")
async def write_file(path: str, content: str) -> str:
    """Write a file."""
    await asyncio.sleep(0.2)
    return f"wrote {len(content)} characters to {path}"


@tool(effects="write")
async def run_tests(path: str) -> str:
    """Run the tests."""
    await asyncio.sleep(1.2)
    return "14 passed in 1.19s"


TOOLS = [read_file, search_code, write_file, run_tests]


@dataclass
class Say:
    """One streamed message: text for `lead` seconds, calls after gaps, then `tail` seconds."""

    text: str
    calls: list[tuple[float, ToolCall]]
    tail: float
    usage: Usage
    lead: float = 0.3
    breaks_after: int | None = None
    """Drop the stream after this many calls (a broken stream, asked again)."""
    stop: Any = None
    """The stop reason, if not the natural one (`max_tokens`: a message cut short)."""


FIX = (
    "def parse_date(text):\n    value = datetime.fromisoformat(text)\n"
    "    return value if value.tzinfo else value.replace(tzinfo=UTC)\n"
)

SCRIPT = [
    Say(
        "I'll read the app, its helpers and the old module at once.",
        [
            (0.25, ToolCall("c1", "read_file", {"path": "src/app.py"})),
            (0.15, ToolCall("c2", "read_file", {"path": "src/util.py"})),
            (0.15, ToolCall("c3", "read_file", {"path": "src/legacy.py"})),
        ],
        0.15,
        Usage(1850, 96),
    ),
    Say(
        "parse_date drops the time zone: checking its callers, then fixing it and testing.",
        [
            (0.1, ToolCall("c4", "search_code", {"pattern": "parse_date"})),
            (0.15, ToolCall("c5", "read_file", {"path": "src/dates.py"})),
            (0.75, ToolCall("c6", "write_file", {"path": "src/util.py", "content": FIX})),
            (0.15, ToolCall("c7", "run_tests", {"path": "tests/test_dates.py"})),
        ],
        0.05,
        Usage(4210, 310),
    ),
    Say(
        "Fixed: `parse_date` now keeps naive dates in UTC; the 14 date tests pass.",
        [],
        0.9,
        Usage(5020, 120),
    ),
]


class ScriptedModel:
    """A streaming provider that plays `script`, one message per request (in virtual time)."""

    name = "function:scripted"

    def __init__(self, script: list[Say]) -> None:
        self.script = script
        self.asked = 0

    async def complete(self, request: ModelRequest) -> ModelTurn:
        raise AssertionError("the agent streams")

    async def stream(self, request: ModelRequest) -> AsyncIterator[Any]:
        say = self.script[self.asked]
        self.asked += 1
        yield streams.TextDelta(say.text[: len(say.text) // 2])
        await asyncio.sleep(say.lead)
        yield streams.TextDelta(say.text[len(say.text) // 2 :])
        for position, (gap, call) in enumerate(say.calls):
            if say.breaks_after == position:
                raise streams.StreamError("the stream broke: peer closed the connection")
            await asyncio.sleep(gap)
            yield streams.CallComplete(call, position)
        await asyncio.sleep(say.tail)
        stop = say.stop or ("tool_calls" if say.calls else "end")
        yield streams.TurnEnd(stop, say.usage, "scripted-1")
        calls = tuple(c for _, c in say.calls)
        yield ModelTurn(text=say.text, calls=calls, stop=stop, usage=say.usage, model="scripted-1")


META = {
    "model": "anthropic:claude-sonnet-4-6",
    "prompt": "The date tests fail since the refactor; find out why and fix it.",
    "tools": ["read_file", "search_code", "write_file", "run_tests"],
}


def run_script(
    script: list[Say], path: Path | None = None, **agent: Any
) -> tuple[RunResult | Exception, list[RunEvent]]:
    """Play `script` (recording to `path` if given): the result (or the error) and every event."""
    heard: list[RunEvent] = []
    observers: list[Callable[[RunEvent], None]] = [heard.append]
    recorder = TraceRecorder(path, META) if path is not None else None
    if recorder is not None:
        observers.append(recorder)
    model = ScriptedModel(script)

    async def main() -> RunResult | Exception:
        try:
            return await Agent(model, TOOLS, observers=observers, **agent).run(META["prompt"])
        except Exception as exc:
            return exc

    try:
        return vrun(main), heard
    finally:
        if recorder is not None:
            recorder.close()


def realistic_run(path: Path | None = None) -> RunResult:
    """The three-turn run (recorded to `path` if given)."""
    result, _ = run_script(SCRIPT, path)
    assert isinstance(result, RunResult), result
    return result


def realistic_trace() -> Trace:
    return Trace.from_result(realistic_run(), META)


def known_trace() -> Trace:
    """Round numbers: model 0-1 s; an early call 0.2-2 s; a failure 1-1.5 s; a call 1.2-1.8 s.

    Then a second turn that only answers (model 2-2.5 s).
    """
    calls = (
        TraceCall(1, "a", "fetch", {"url": "https://example.com"}, True, 0.2, 0.2, 2.0, False,
                  None, "<html>…</html>", attempts=1),
        TraceCall(1, "b", "lookup", {"key": "k"}, False, 1.0, 1.0, 1.5, True, "exception",
                  "KeyError: 'k'", attempts=1),
        TraceCall(1, "c", "store", {"key": "k", "value": 1}, False, 1.0, 1.2, 1.8, False,
                  None, "stored", attempts=1),
    )  # fmt: skip
    timeline = tuple(
        CallTiming(c.id, c.name, c.arguments_done, c.started, c.ended or 0.0, c.is_error)
        for c in calls
    )
    batch = BatchStats(3, 1, 0, 1.8, 2.9, 3, 1.8)
    first = TurnStats(1, 3, 0.0, 1.0, 2.0, 1000, 50, batch, True, timeline)
    second = TurnStats(2, 0, 2.0, 2.5, 2.5, 1200, 40, streamed=True)
    return Trace(
        turns=(
            TraceTurn(1, calls, first, "Fetching, looking up and storing."),
            TraceTurn(2, (), second, "Done."),
        ),
        meta={"model": "test:known", "prompt": "Known shapes."},
        stats=RunStats((first, second), 2.5),
        output="Done.",
    )
