"""Progress a call reports (`report_progress`) reaches run_stream, traces and OpenTelemetry.

From an async tool or from a sync tool's thread; outside a call, or with nobody listening, it is a
no-op; a listener that raises does not fail the call.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from volley import (
    Agent,
    CallProgress,
    Executor,
    ModelTurn,
    Progress,
    ToolCall,
    ToolReturns,
    report_progress,
    tool,
)
from volley.providers import FunctionProvider, ModelRequest
from volley.trace import TraceRecorder, load_trace
from volley.trace.otel import OpenTelemetryObserver


@tool(effects="read")
async def crawl(pages: int) -> str:
    """Crawl, saying how far."""
    for page in range(1, pages + 1):
        report_progress(page, pages, f"page {page}")
        await asyncio.sleep(0)
    return "crawled"


@tool(effects="read")
def parse(lines: int) -> str:
    """Parse in a thread, saying how far."""
    for line in range(1, lines + 1):
        report_progress(line, None, None)
    return "parsed"


def model() -> FunctionProvider:
    def respond(request: ModelRequest) -> ModelTurn:
        if isinstance(request.messages[-1], ToolReturns):
            return ModelTurn(text="done")
        calls = (ToolCall("a", "crawl", {"pages": 3}), ToolCall("b", "parse", {"lines": 2}))
        return ModelTurn(text="", calls=calls)

    return FunctionProvider(respond)


def test_progress_reaches_the_stream_the_trace_and_the_spans(tmp_path: Path) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    path = tmp_path / "run.jsonl"
    recorder = TraceRecorder(path)
    agent = Agent(model(), [crawl, parse], observers=[recorder, OpenTelemetryObserver(provider)])

    async def main() -> list[Any]:
        return [event async for event in agent.run_stream("go")]

    events = asyncio.run(main())
    said = [
        (e.call_id, e.name, e.progress, e.total, e.message)
        for e in events
        if isinstance(e, CallProgress)
    ]
    assert [s for s in said if s[0] == "a"] == [
        ("a", "crawl", p, 3, f"page {p}") for p in (1, 2, 3)
    ]
    assert [s[2] for s in said if s[0] == "b"] == [1, 2]  # from the tool's thread, in order

    calls = {call.id: call for turn in load_trace(path).turns for call in turn.calls}
    assert [(p.progress, p.total, p.message) for p in calls["a"].progress] == [
        (p, 3, f"page {p}") for p in (1, 2, 3)
    ]
    assert len(calls["b"].progress) == 2
    spans = {s.name: s for s in exporter.get_finished_spans()}
    reports = [e for e in spans["execute_tool crawl"].events if e.name == "volley.progress"]
    assert [e.attributes["volley.progress"] for e in reports] == [1, 2, 3]


def test_outside_a_call_or_unheard_it_does_nothing_and_a_bad_listener_costs_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    report_progress(1, 2, "nobody listens")  # no call, no error

    def bad_listener(progress: Progress) -> None:
        raise RuntimeError("listener bug")

    async def main() -> list[Any]:
        async with Executor([crawl]) as ex:
            unheard = await ex.run([ToolCall("a", "crawl", {"pages": 2})])
            batch = ex.batch(on_progress=bad_listener)
            batch.submit(ToolCall("b", "crawl", {"pages": 2}))
            return [*unheard, *await batch.close()]

    with caplog.at_level(logging.ERROR, "volley"):
        results = asyncio.run(main())
    assert [r.content for r in results] == ["crawled", "crawled"]
    assert "a progress listener raised" in caplog.text
