"""OpenTelemetry spans of agent runs, checked against the runs' own figures in virtual time.

Runs are scripted (`Scripted` streams or completes one message per request, with decode gaps)
and played on a virtual clock, so every time a span carries can be predicted exactly from the
run's `TurnStats` and `ToolResult`s: the span tree, the names and attributes, durations to the
nanosecond, errors, content only when asked for, and runs that raise.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from _hyp import examples
from _vtime import vrun
from hypothesis import given
from hypothesis import strategies as st
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from volley import (
    Agent,
    CallStarted,
    IncompleteTurn,
    MaxTurnsExceeded,
    ModelTurn,
    RunError,
    RunFailed,
    RunResult,
    ToolCall,
    ToolResult,
    ToolReturns,
    Usage,
    tool,
)
from volley.providers import FunctionProvider, ModelRequest, streams
from volley.trace._otel_attributes import split_model
from volley.trace.otel import OpenTelemetryObserver, instrument

# -- tools and a scripted model ---------------------------------------------------------------


@tool(effects="read")
async def nap(tag: str, seconds: float = 1.0, fail: bool = False) -> str:
    """Sleep, then answer with the tag (or raise)."""
    await asyncio.sleep(seconds)
    if fail:
        raise ValueError(f"{tag} failed on purpose")
    return f"done {tag}"


@tool(effects="write")
async def save(tag: str, seconds: float = 1.0) -> str:
    """A write: never started before the message has ended."""
    await asyncio.sleep(seconds)
    return f"saved {tag}"


TOOLS = [nap, save]


@dataclass
class Step:
    """One scripted message: calls with the decode time before each, then the rest of it."""

    calls: list[tuple[ToolCall, float]] = field(default_factory=list)
    tail: float = 0.5
    text: str = ""
    usage: Usage = field(default_factory=lambda: Usage(100, 10))
    broken: bool = False
    """Drop the stream after the calls (the agent asks again)."""


class Scripted:
    """Plays `steps` in order, one per request, streamed or not; then answers "done"."""

    name = "function:scripted"

    def __init__(self, steps: list[Step]) -> None:
        self.steps = list(steps)
        self.asked = 0

    async def aclose(self) -> None:
        pass

    def _next(self) -> Step:
        step = self.steps[self.asked] if self.asked < len(self.steps) else Step(text="done")
        self.asked += 1
        return step

    async def complete(self, request: ModelRequest) -> ModelTurn:
        step = self._next()
        await asyncio.sleep(sum(gap for _, gap in step.calls) + step.tail)
        return self._turn(step)

    async def stream(self, request: ModelRequest) -> AsyncIterator[Any]:
        step = self._next()
        yield streams.TextDelta(step.text or "working")
        for index, (call, gap) in enumerate(step.calls):
            await asyncio.sleep(gap)
            yield streams.CallComplete(call, index)
        await asyncio.sleep(step.tail)
        if step.broken:
            raise streams.StreamError("the stream broke: peer closed the connection")
        turn = self._turn(step)
        yield streams.TurnEnd(turn.stop, turn.usage, turn.model)
        yield turn

    @staticmethod
    def _turn(step: Step) -> ModelTurn:
        calls = tuple(call for call, _ in step.calls)
        stop = "tool_calls" if calls else "end"
        return ModelTurn(step.text, calls, stop, step.usage, model="scripted-1")


def call(cid: str, name: str = "nap", **arguments: Any) -> ToolCall:
    return ToolCall(cid, name, {"tag": cid, **arguments})


# -- collecting what was exported -------------------------------------------------------------


def tracing() -> tuple[TracerProvider, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


@dataclass
class Tree:
    """The exported spans of one run, by role."""

    spans: list[ReadableSpan]

    def named(self, prefix: str) -> list[ReadableSpan]:
        return [s for s in self.spans if s.name.startswith(prefix)]

    @property
    def run(self) -> ReadableSpan:
        (run,) = self.named("invoke_agent")
        return run

    @property
    def turns(self) -> list[ReadableSpan]:
        return sorted(self.named("volley.turn"), key=lambda s: attr(s, "volley.turn.index"))

    def children(self, parent: ReadableSpan, prefix: str = "") -> list[ReadableSpan]:
        assert parent.context is not None
        return [
            s
            for s in self.spans
            if s.parent is not None
            and s.parent.span_id == parent.context.span_id
            and s.name.startswith(prefix)
        ]

    def tools(self, turn: ReadableSpan) -> list[ReadableSpan]:
        return self.children(turn, "execute_tool ")

    def chat(self, turn: ReadableSpan) -> ReadableSpan:
        (chat,) = self.children(turn, "chat ")
        return chat


def attr(span: ReadableSpan, key: str) -> Any:
    assert span.attributes is not None
    return span.attributes.get(key)


def start(span: ReadableSpan) -> int:
    assert span.start_time is not None
    return span.start_time


def end(span: ReadableSpan) -> int:
    assert span.end_time is not None
    return span.end_time


def ns(seconds: float) -> int:
    return round(seconds * 1e9)


def near(a: int, b: int) -> bool:
    """Equal but for the rounding of two conversions (each rounds to the nearest ns)."""
    return abs(a - b) <= 1


def play(
    steps: list[Step],
    *,
    streaming: bool = True,
    capture: bool = False,
    agent_name: str | None = "helper",
    **options: Any,
) -> tuple[RunResult, Tree, OpenTelemetryObserver]:
    provider, exporter = tracing()
    agent = Agent(Scripted(steps), TOOLS, streaming=streaming, **options)
    observer = instrument(agent, provider, agent_name=agent_name, capture_content=capture)
    result = vrun(lambda: agent.run("Do the things."))
    return result, Tree(list(exporter.get_finished_spans())), observer


def returns(result: RunResult) -> list[tuple[ToolResult, ...]]:
    """Each turn's results, in turn order (the final turn has none)."""
    out = [m.results for m in result.messages if isinstance(m, ToolReturns)]
    return [*out, ()]


# -- the tree of a plain run ------------------------------------------------------------------


def test_a_run_is_one_invoke_agent_span_over_a_turn_span_per_round_trip() -> None:
    steps = [Step([(call("a"), 0.5), (call("b", seconds=2.0), 0.25)], tail=0.25)]
    result, tree, _ = play(steps, streaming=False)
    run = tree.run
    assert run.name == "invoke_agent helper"
    assert run.kind is SpanKind.INTERNAL
    assert run.parent is None
    assert {s.context.trace_id for s in tree.spans if s.context} == {run.context.trace_id}
    assert len(tree.spans) == 1 + 2 + 2 + 2  # run, two turns, two chats, two calls
    assert dict(run.attributes or {}) == {
        "gen_ai.operation.name": "invoke_agent",
        "gen_ai.provider.name": "function",
        "gen_ai.request.model": "scripted",
        "gen_ai.agent.name": "helper",
        "gen_ai.usage.input_tokens": 200,
        "gen_ai.usage.output_tokens": 20,
        "volley.run.turns": 2,
        "volley.run.calls": 2,
        "volley.run.time_saved": result.stats.time_saved,
        "volley.run.early_dispatch_saved": 0.0,
    }
    first, last = result.turns[0], result.turns[-1]
    assert end(run) - start(run) == ns(last.ended_at - first.started_at)
    turns = tree.turns
    assert [attr(t, "volley.turn.index") for t in turns] == [1, 2]
    for span, stats in zip(turns, result.turns, strict=True):
        assert span.parent is not None
        assert span.parent.span_id == run.context.span_id
        assert end(span) - start(span) == ns(stats.wall_time)
        assert start(span) - start(run) == ns(stats.started_at - first.started_at)
        chat = tree.chat(span)
        assert chat.name == "chat scripted"
        assert chat.kind is SpanKind.CLIENT
        assert start(chat) == start(span)
        assert end(chat) - start(chat) == ns(stats.model_time)
    assert attr(turns[0], "volley.turn.calls") == 2
    assert attr(turns[0], "volley.turn.peak_concurrency") == 2


def test_chat_spans_carry_the_model_the_usage_and_why_it_stopped() -> None:
    steps = [Step([(call("a"), 0.5)], usage=Usage(120, 7))]
    _, tree, _ = play(steps, streaming=False)
    first, second = (tree.chat(t) for t in tree.turns)
    assert dict(first.attributes or {}) == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "function",
        "gen_ai.request.model": "scripted",
        "gen_ai.request.stream": False,
        "gen_ai.response.model": "scripted-1",
        "gen_ai.response.finish_reasons": ("tool_call",),
        "gen_ai.usage.input_tokens": 120,
        "gen_ai.usage.output_tokens": 7,
    }
    assert attr(second, "gen_ai.response.finish_reasons") == ("stop",)
    assert first.status.status_code is StatusCode.UNSET


def test_tool_spans_are_the_bodies_own_intervals_to_the_nanosecond() -> None:
    steps = [Step([(call("a", seconds=1.5), 0.5), (call("b", seconds=0.25), 0.25)])]
    result, tree, _ = play(steps, streaming=False)
    (turn, _) = tree.turns
    by_id = {attr(s, "gen_ai.tool.call.id"): s for s in tree.tools(turn)}
    first = result.turns[0]
    for r in returns(result)[0]:
        span = by_id[r.call_id]
        assert r.started_at is not None
        assert r.ended_at is not None
        assert span.name == "execute_tool nap"
        assert span.kind is SpanKind.INTERNAL
        assert end(span) - start(span) == ns(r.duration)
        assert start(span) - start(turn) == ns(r.started_at - first.started_at)
        assert dict(span.attributes or {}) == {
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": "nap",
            "gen_ai.tool.call.id": r.call_id,
            "gen_ai.tool.type": "function",
            "volley.tool.call.ran": True,
            "volley.tool.call.early": False,
            "volley.tool.call.waited": 0.0,
            "volley.tool.call.attempts": 1,
        }
        assert span.status.status_code is StatusCode.UNSET
    # without streaming, both start when the message has ended, and run at once
    assert start(by_id["a"]) == start(by_id["b"]) == end(tree.chat(turn))


def test_with_streaming_dispatch_calls_start_inside_the_chat_span() -> None:
    steps = [
        Step(
            [(call("a", seconds=1.0), 0.5), (call("w", "save"), 0.5), (call("b"), 0.5)],
            tail=2.0,
        )
    ]
    result, tree, _ = play(steps)
    (turn, _) = tree.turns
    chat = tree.chat(turn)
    assert attr(chat, "gen_ai.request.stream") is True
    spans = {attr(s, "gen_ai.tool.call.id"): s for s in tree.tools(turn)}
    # the read started as soon as it was written, and was over before the message was
    assert attr(spans["a"], "volley.tool.call.early") is True
    assert start(chat) < start(spans["a"]) < end(spans["a"]) < end(chat)
    assert start(spans["a"]) - start(chat) == ns(0.5)
    # the write, and the read after it, waited for the end of the message
    for cid in ("w", "b"):
        assert attr(spans[cid], "volley.tool.call.early") is False
        assert start(spans[cid]) >= end(chat)
    assert end(turn) == max(end(s) for s in spans.values())
    assert attr(turn, "volley.turn.early_dispatch_saved") == result.turns[0].early_dispatch_saved
    assert attr(turn, "volley.turn.streamed") is True


# -- errors and content -----------------------------------------------------------------------


def test_failed_calls_are_error_spans_and_calls_that_never_ran_are_instants() -> None:
    steps = [
        Step(
            [
                (call("boom", fail=True), 0.5),
                (ToolCall("ghost", "no_such_tool", {}), 0.5),
                (call("slow", seconds=30.0), 0.5),
            ]
        )
    ]
    result, tree, _ = play(steps, streaming=False, tool_timeout=2.0)
    (turn, _) = tree.turns
    spans = {attr(s, "gen_ai.tool.call.id"): s for s in tree.tools(turn)}
    boom, ghost, slow = spans["boom"], spans["ghost"], spans["slow"]
    assert attr(boom, "error.type") == "ValueError"
    assert attr(boom, "volley.error_kind") == "exception"
    assert boom.status.status_code is StatusCode.ERROR
    assert boom.status.description == "ValueError"  # not the message: it may be sensitive
    assert end(boom) - start(boom) == ns(1.0)
    assert attr(slow, "error.type") == "timeout"
    assert end(slow) - start(slow) == ns(2.0)
    assert ghost.name == "execute_tool no_such_tool"
    assert attr(ghost, "error.type") == "unknown_tool"
    assert attr(ghost, "volley.tool.call.ran") is False
    assert start(ghost) == end(ghost) == end(tree.chat(turn))  # refused as the message ended
    assert "volley.tool.call.waited" not in (ghost.attributes or {})
    assert attr(turn, "volley.turn.failed_calls") == 3
    assert turn.status.status_code is StatusCode.UNSET  # failed calls are answers, not failures
    assert result.output == "done"


def test_a_call_that_waits_for_a_failed_one_is_an_instant_when_that_one_failed() -> None:
    steps = [
        Step(
            [
                (call("first", seconds=2.0, fail=True), 0.5),
                (ToolCall("then", "nap", {"tag": "then"}, depends_on=("first",)), 0.0),
            ]
        )
    ]
    _, tree, _ = play(steps, streaming=False)
    (turn, _) = tree.turns
    spans = {attr(s, "gen_ai.tool.call.id"): s for s in tree.tools(turn)}
    assert attr(spans["then"], "error.type") == "dependency_failed"
    assert start(spans["then"]) == end(spans["then"]) == end(spans["first"])


def test_a_shared_read_is_an_instant_linked_to_the_call_that_ran() -> None:
    same = {"tag": "x", "seconds": 1.0}
    steps = [Step([(ToolCall("one", "nap", same), 0.5), (ToolCall("two", "nap", same), 0.5)])]
    _, tree, _ = play(steps, streaming=False)
    (turn, _) = tree.turns
    spans = {attr(s, "gen_ai.tool.call.id"): s for s in tree.tools(turn)}
    one, two = spans["one"], spans["two"]
    assert attr(two, "volley.tool.call.duplicate_of") == "one"
    assert attr(two, "volley.tool.call.ran") is False
    assert start(two) == end(two) == end(one)
    assert "volley.tool.call.waited" not in (two.attributes or {})
    assert [link.context.span_id for link in two.links] == [one.context.span_id]


def test_content_is_recorded_only_when_asked_for() -> None:
    steps = [Step([(call("a", fail=True), 0.5), (call("b"), 0.5)], text="Let me look.")]
    _, quiet, _ = play(steps, streaming=False)
    secret_keys = {
        "gen_ai.tool.call.arguments",
        "gen_ai.tool.call.result",
        "gen_ai.input.messages",
        "gen_ai.output.messages",
    }
    for span in quiet.spans:
        assert not secret_keys & set(span.attributes or {})
        assert "on purpose" not in (span.status.description or "")
        assert not span.events

    _, loud, _ = play(steps, streaming=False, capture=True)
    (turn, _) = loud.turns
    spans = {attr(s, "gen_ai.tool.call.id"): s for s in loud.tools(turn)}
    assert json.loads(attr(spans["b"], "gen_ai.tool.call.arguments")) == {"tag": "b"}
    assert attr(spans["b"], "gen_ai.tool.call.result") == "done b"
    assert "gen_ai.tool.call.result" not in (spans["a"].attributes or {})
    assert "on purpose" in (spans["a"].status.description or "")
    output = json.loads(attr(loud.chat(turn), "gen_ai.output.messages"))
    assert output == [
        {
            "role": "assistant",
            "parts": [
                {"type": "text", "content": "Let me look."},
                {
                    "type": "tool_call",
                    "id": "a",
                    "name": "nap",
                    "arguments": {"tag": "a", "fail": True},
                },
                {"type": "tool_call", "id": "b", "name": "nap", "arguments": {"tag": "b"}},
            ],
            "finish_reason": "tool_call",
        }
    ]
    run = loud.run
    assert json.loads(attr(run, "gen_ai.input.messages")) == [
        {"role": "user", "parts": [{"type": "text", "content": "Do the things."}]}
    ]
    assert json.loads(attr(run, "gen_ai.output.messages"))[0]["parts"][0]["content"] == "done"


def test_json_text_arguments_are_recorded_as_the_object_they_hold() -> None:
    steps = [Step([(ToolCall("a", "nap", '{"tag": "a", "seconds": 0.5}'), 0.5)])]
    _, tree, _ = play(steps, streaming=False, capture=True)
    (span,) = tree.tools(tree.turns[0])
    assert json.loads(attr(span, "gen_ai.tool.call.arguments")) == {"tag": "a", "seconds": 0.5}


# -- broken streams and runs that raise -------------------------------------------------------


def test_a_retried_stream_keeps_its_cancelled_calls_as_void_spans_and_an_event() -> None:
    steps = [
        Step([(call("early", seconds=5.0), 0.5)], tail=1.0, broken=True),
        Step([(call("again"), 0.5)]),
    ]
    result, tree, _ = play(steps)
    (turn, _) = tree.turns
    assert attr(turn, "volley.turn.retries") == 1
    spans = {attr(s, "gen_ai.tool.call.id"): s for s in tree.tools(turn)}
    void = spans["early"]
    assert attr(void, "volley.tool.call.void") is True
    assert attr(void, "volley.tool.call.attempt") == 1
    assert attr(void, "error.type") == "cancelled"
    assert "volley.tool.call.void" not in (spans["again"].attributes or {})
    chat = tree.chat(turn)
    (event,) = chat.events
    assert event.name == "volley.stream_retried"
    assert event.attributes is not None
    assert "peer closed" in str(event.attributes["volley.retry.reason"])
    assert start(chat) <= event.timestamp <= end(chat)
    assert end(chat) - start(chat) == ns(result.turns[0].model_time)


def test_a_run_out_of_turns_ends_as_an_error_with_its_exception() -> None:
    provider, exporter = tracing()
    forever = [Step([(call(f"c{i}"), 0.5)]) for i in range(5)]
    agent = Agent(Scripted(forever), TOOLS, max_turns=2)
    instrument(agent, provider)

    async def main() -> MaxTurnsExceeded:
        with pytest.raises(MaxTurnsExceeded) as caught:
            await agent.run("Go on forever.")
        # ended and exported as the run raised: nothing to close
        assert [s.name for s in exporter.get_finished_spans()][-1] == "invoke_agent"
        return caught.value

    error = vrun(main)
    tree = Tree(list(exporter.get_finished_spans()))
    run = tree.run
    assert run.status.status_code is StatusCode.ERROR
    assert run.status.description == f"MaxTurnsExceeded: {error}"
    assert attr(run, "error.type") == "MaxTurnsExceeded"
    assert attr(run, "volley.run.finished") is False
    assert attr(run, "volley.run.calls") == 2
    assert attr(run, "gen_ai.usage.input_tokens") == 200
    (event,) = run.events
    assert event.name == "exception"
    assert event.attributes is not None
    assert str(event.attributes["exception.type"]).endswith("MaxTurnsExceeded")
    assert event.attributes["exception.message"] == str(error)
    assert event.timestamp == end(run)
    turns = tree.turns
    assert [attr(t, "volley.turn.index") for t in turns] == [1, 2]
    assert all(t.status.status_code is StatusCode.UNSET for t in turns)  # no turn was cut
    assert start(run) == start(turns[0])
    assert end(run) == end(turns[-1])


def test_a_cut_message_leaves_a_failed_turn_with_its_cancelled_calls() -> None:
    provider, exporter = tracing()

    class Cut(Scripted):
        async def stream(self, request: ModelRequest) -> AsyncIterator[Any]:
            yield streams.CallComplete(call("early", seconds=9.0), 0)
            await asyncio.sleep(1.0)
            yield streams.TurnEnd("max_tokens", Usage(10, 5), "scripted-1")
            yield ModelTurn(calls=(call("early", seconds=9.0),), stop="max_tokens")

    agent = Agent(Cut([]), TOOLS)
    instrument(agent, provider, capture_content=True)

    async def main() -> None:
        with pytest.raises(IncompleteTurn):
            await agent.run("Cut me off.")

    vrun(main)
    tree = Tree(list(exporter.get_finished_spans()))
    (turn,) = tree.turns
    assert turn.status.status_code is StatusCode.ERROR
    assert attr(turn, "volley.turn.finished") is False
    (span,) = tree.tools(turn)
    assert attr(span, "error.type") == "cancelled"
    run = tree.run
    assert run.status.status_code is StatusCode.ERROR
    assert attr(run, "error.type") == "IncompleteTurn"
    assert [e.name for e in run.events] == ["exception"]
    assert json.loads(attr(run, "gen_ai.input.messages")) == [
        {"role": "user", "parts": [{"type": "text", "content": "Cut me off."}]}
    ]
    assert start(run) <= start(turn) <= start(span) <= end(span) <= end(turn) <= end(run)


def test_a_cancelled_run_ends_as_an_error_at_the_moment_it_was_cancelled() -> None:
    provider, exporter = tracing()
    agent = Agent(Scripted([Step([(call("slow", seconds=10.0), 0.5)])]), TOOLS)
    instrument(agent, provider)

    async def main() -> None:
        task = asyncio.create_task(agent.run("?"))
        await asyncio.sleep(3.0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    vrun(main)
    tree = Tree(list(exporter.get_finished_spans()))
    run = tree.run
    assert run.status.status_code is StatusCode.ERROR
    assert attr(run, "error.type") == "CancelledError"
    assert [e.name for e in run.events] == ["exception"]
    assert end(run) - start(run) == ns(3.0)
    (turn,) = tree.turns
    assert attr(turn, "volley.turn.finished") is False
    assert (start(turn), end(turn)) == (start(run), end(run))
    (slow,) = tree.tools(turn)
    assert slow.status.status_code is StatusCode.ERROR
    assert attr(slow, "error.type") == "cancelled"
    assert attr(slow, "gen_ai.tool.call.id") == "slow"
    assert start(turn) <= start(slow) <= end(slow) <= end(turn)


def test_a_run_that_fails_before_any_turn_is_a_lone_error_span() -> None:
    provider, exporter = tracing()

    def unreachable(request: ModelRequest) -> ModelTurn:
        raise ConnectionError("no route to the model")

    agent = Agent(FunctionProvider(unreachable), TOOLS)
    instrument(agent, provider)

    async def main() -> None:
        with pytest.raises(RunError) as caught:  # what failed underneath is its cause
            await agent.run("?")
        assert isinstance(caught.value.__cause__, ConnectionError)

    vrun(main)
    (run,) = exporter.get_finished_spans()
    assert run.status.status_code is StatusCode.ERROR
    assert (
        run.status.description == "RunError: turn 1 failed: ConnectionError: no route to the model"
    )
    assert attr(run, "error.type") == "RunError"


def test_runs_one_after_the_other_in_one_task_get_a_trace_each() -> None:
    provider, exporter = tracing()
    steps = [Step([(call("a"), 0.5)]), Step([(call("b"), 0.5)]), Step([(call("c"), 0.5)])]
    model = Scripted(steps)
    agent = Agent(model, TOOLS, max_turns=2)
    instrument(agent, provider)

    async def main() -> RunResult:
        with pytest.raises(MaxTurnsExceeded):
            await agent.run("first")
        return await agent.run("second")  # plays the third step, then answers

    vrun(main)
    runs = [s for s in exporter.get_finished_spans() if s.name == "invoke_agent"]
    assert [r.status.status_code for r in runs] == [StatusCode.ERROR, StatusCode.UNSET]
    assert runs[0].context.trace_id != runs[1].context.trace_id
    by_trace: dict[int, list[int]] = {r.context.trace_id: [] for r in runs}
    for span in exporter.get_finished_spans():
        if span.name == "volley.turn":
            by_trace[span.context.trace_id].append(attr(span, "volley.turn.index"))
    assert [by_trace[r.context.trace_id] for r in runs] == [[1, 2], [1, 2]]


def _traces(spans: Any, run_name: str) -> dict[int, tuple[ReadableSpan, list[ReadableSpan]]]:
    """Each run span by trace, with the turn spans under it (checked to be in that trace)."""
    runs = {s.context.trace_id: (s, []) for s in spans if s.name == run_name}
    assert len(runs) == len([s for s in spans if s.name == run_name])
    for span in spans:
        if span.name == "volley.turn":
            run, turns = runs[span.context.trace_id]
            assert span.parent.span_id == run.context.span_id
            turns.append(span)
    return runs


def test_concurrent_runs_of_one_agent_get_a_trace_each() -> None:
    provider, exporter = tracing()
    agent = Agent(
        FunctionProvider(lambda r: _steps_by_prompt(r), name="fn"), TOOLS, streaming=False
    )
    instrument(agent, provider, agent_name="twin")

    async def main() -> list[RunResult]:
        return list(await asyncio.gather(agent.run("2"), agent.run("3"), agent.run("1")))

    results = vrun(main)
    assert [r.stats.round_trips for r in results] == [3, 4, 2]
    traces = _traces(exporter.get_finished_spans(), "invoke_agent twin")
    assert sorted(len(turns) for _, turns in traces.values()) == [2, 3, 4]
    for run, turns in traces.values():
        assert attr(run, "volley.run.turns") == len(turns)
        assert run.status.status_code is StatusCode.UNSET


def test_a_run_that_raises_among_concurrent_ones_fails_alone() -> None:
    provider, exporter = tracing()
    agent = Agent(
        FunctionProvider(lambda r: _steps_by_prompt(r), name="fn"),
        TOOLS,
        streaming=False,
        max_turns=3,
    )
    instrument(agent, provider, agent_name="twin")

    async def main() -> list[Any]:
        runs = (agent.run("2"), agent.run("5"), agent.run("1"))
        return list(await asyncio.gather(*runs, return_exceptions=True))

    outcomes = vrun(main)
    assert isinstance(outcomes[1], MaxTurnsExceeded)
    traces = _traces(exporter.get_finished_spans(), "invoke_agent twin")
    assert sorted(len(turns) for _, turns in traces.values()) == [2, 3, 3]
    failed = [run for run, _ in traces.values() if run.status.status_code is StatusCode.ERROR]
    (run,) = failed
    assert attr(run, "error.type") == "MaxTurnsExceeded"
    assert attr(run, "volley.run.calls") == 3
    ok = [run for run, _ in traces.values() if run not in failed]
    assert sorted(attr(r, "volley.run.turns") for r in ok) == [2, 3]


def _steps_by_prompt(request: ModelRequest) -> ModelTurn:
    """Calls one tool per turn, as many turns as the prompt says, then answers."""
    prompt = request.messages[0]
    done = sum(isinstance(m, ToolReturns) for m in request.messages)
    if done == int(prompt.text):  # type: ignore[union-attr]
        return ModelTurn("done")
    tag = f"{prompt.text}-{done}"  # type: ignore[union-attr]
    return ModelTurn(calls=(ToolCall(tag, "nap", {"tag": tag, "seconds": 1.0 + done}),))


def test_a_run_inside_another_runs_task_leaves_the_outer_one_whole() -> None:
    provider, exporter = tracing()
    observer = OpenTelemetryObserver(provider)
    inner = Agent(Scripted([Step([(call("in"), 0.5)])]), TOOLS, observers=[observer])

    class Asking(Scripted):
        """Runs the inner agent in the middle of its first request, in the outer run's task."""

        async def complete(self, request: ModelRequest) -> ModelTurn:
            if self.asked == 0:
                await inner.run("inner")
            return await super().complete(request)

    outer = Agent(
        Asking([Step([(call("out"), 0.5)])]), TOOLS, streaming=False, observers=[observer]
    )
    vrun(lambda: outer.run("outer"))
    spans = exporter.get_finished_spans()
    traces = _traces(spans, "invoke_agent")
    assert len(traces) == 2
    calls = {
        trace: sorted(
            attr(s, "gen_ai.tool.call.id")
            for s in spans
            if s.context.trace_id == trace and s.name.startswith("execute_tool")
        )
        for trace in traces
    }
    assert sorted(calls.values()) == [["in"], ["out"]]
    assert sorted(len(turns) for _, turns in traces.values()) == [2, 2]
    assert observer._failures == 0


def test_events_of_a_run_it_did_not_see_start_are_ignored() -> None:
    provider, exporter = tracing()
    observer = OpenTelemetryObserver(provider)
    observer(CallStarted(1, call("a"), 0.0, False))
    observer(RunFailed(ValueError("?"), 1.0))
    assert not exporter.get_finished_spans()
    assert observer._failures == 0


def test_a_run_inside_a_span_of_yours_nests_under_it() -> None:
    provider, exporter = tracing()
    agent = Agent(Scripted([]), TOOLS)
    instrument(agent, provider)
    tracer = provider.get_tracer("app")

    async def main() -> None:
        with tracer.start_as_current_span("request"):
            await agent.run("?")

    vrun(main)
    spans = {s.name: s for s in exporter.get_finished_spans()}
    assert spans["invoke_agent"].parent is not None
    assert spans["invoke_agent"].parent.span_id == spans["request"].context.span_id


# -- never in the agent's way -----------------------------------------------------------------


class _Exploding:
    """A tracer that fails on every span, or on every span but the runs'."""

    def __init__(self, spare_runs: bool) -> None:
        self.spare_runs = spare_runs
        self.real = tracing()[0].get_tracer("real")

    def get_tracer(self, *args: Any, **kwargs: Any) -> Any:
        return self

    def start_span(self, name: str, *args: Any, **kwargs: Any) -> Any:
        if self.spare_runs and name.startswith("invoke_agent"):
            return self.real.start_span(name, *args, **kwargs)
        raise RuntimeError("the collector is on fire")


@pytest.mark.parametrize("spare_runs", [False, True])
def test_a_failing_tracer_is_logged_and_never_reaches_the_agent(
    caplog: pytest.LogCaptureFixture, spare_runs: bool
) -> None:
    agent = Agent(Scripted([Step([(call("a"), 0.5)])] * 3), TOOLS)
    instrument(agent, _Exploding(spare_runs))  # type: ignore[arg-type]
    with caplog.at_level(logging.DEBUG, logger="volley.trace.otel"):
        result = vrun(lambda: agent.run("?"))
    assert result.output == "done"
    mine = [r for r in caplog.records if r.name == "volley.trace.otel"]
    warnings = [r for r in mine if r.levelno == logging.WARNING]
    assert len(warnings) == 1  # then quietly, at debug level
    # a run whose span could not start is dropped; else each of its 4 turns fails
    assert len(mine) == (4 if spare_runs else 1)
    assert "collector is on fire" in caplog.text


def test_a_missing_extra_is_a_one_line_import_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "opentelemetry", None)
    with pytest.raises(ImportError, match=r"pip install 'volley-tools\[otel\]'") as caught:
        OpenTelemetryObserver()
    assert "\n" not in str(caught.value)


def test_instrument_adds_one_observer_named_after_the_agents_model() -> None:
    provider, _ = tracing()
    agent = Agent(FunctionProvider(lambda r: ModelTurn("hi"), name="m"), observers=[print])
    observer = instrument(agent, provider)
    assert agent.observers == (print, observer)
    assert observer.model == "function:m"


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("anthropic:claude-sonnet-4-6", ("anthropic", "claude-sonnet-4-6", "chat")),
        ("openai:gpt-5.4", ("openai", "gpt-5.4", "chat")),
        ("openai-responses:gpt-5.4", ("openai", "gpt-5.4", "chat")),
        ("gemini:gemini-3-pro", ("gcp.gemini", "gemini-3-pro", "generate_content")),
        ("openai-compatible:qwen3", ("openai-compatible", "qwen3", "chat")),
        (
            "openai-compatible:http://localhost:11434/v1:llama3.1:8b",
            ("openai-compatible", "llama3.1:8b", "chat"),
        ),
        ("openai-compatible:http://[::1]:8000:qwen", ("openai-compatible", "qwen", "chat")),
        ("just-a-model", (None, "just-a-model", "chat")),
        (None, (None, None, "chat")),
    ],
)
def test_provider_names_follow_the_conventions_well_known_values(
    model: str | None, expected: tuple[str | None, str | None, str]
) -> None:
    assert split_model(model) == expected


# -- properties over random scripted runs -----------------------------------------------------


@st.composite
def scripts(draw: Any) -> list[Step]:
    steps = []
    for t in range(draw(st.integers(0, 3))):
        calls = []
        for i in range(draw(st.integers(1, 4))):  # no calls would end the run: "done" does
            cid = f"t{t}c{i}"
            kind = draw(st.sampled_from(["nap", "nap", "fail", "save", "ghost", "dup"]))
            seconds = draw(st.sampled_from([0.0, 0.25, 1.0, 2.5]))
            if kind == "ghost":
                made = ToolCall(cid, "no_such_tool", {})
            elif kind == "dup" and calls:
                made = ToolCall(cid, calls[0][0].name, calls[0][0].arguments)
            elif kind == "save":
                made = ToolCall(cid, "save", {"tag": cid, "seconds": seconds})
            else:
                made = call(cid, seconds=seconds, fail=kind == "fail")
            calls.append((made, draw(st.sampled_from([0.0, 0.5, 1.0]))))
        tail = draw(st.sampled_from([0.0, 0.5, 2.0]))
        # a broken stream is asked again once: the next step is its retry, so never two in a row
        broken = not (steps and steps[-1].broken) and draw(st.booleans())
        steps.append(Step(calls, tail=tail, text="...", broken=broken))
    return steps


def void_calls(steps: list[Step], streaming: bool) -> list[int]:
    """Per turn, the calls that started early in broken attempts: the reads before any write
    (a call of an unknown tool may do anything, so it waits like a write, holding nothing)."""
    counts = [0]
    for step in steps:
        if not (streaming and step.broken):
            counts.append(0)
            continue
        names = [c.name for c, _ in step.calls]
        before = names[: names.index("save")] if "save" in names else names
        counts[-1] += sum(name == "nap" for name in before)
    return counts


@examples(40)
@given(steps=scripts(), streaming=st.booleans())
def test_every_call_is_one_span_inside_its_turn_with_the_runs_own_times(
    steps: list[Step], streaming: bool
) -> None:
    result, tree, observer = play(steps, streaming=streaming)
    run = tree.run
    assert observer._failures == 0
    assert all(s.end_time is not None for s in tree.spans)
    assert {s.context.trace_id for s in tree.spans} == {run.context.trace_id}
    turns = tree.turns
    assert len(turns) == result.stats.round_trips
    origin = result.turns[0].started_at
    voids = void_calls(steps, streaming)
    for span, stats, results in zip(turns, result.turns, returns(result), strict=True):
        assert span.parent is not None
        assert span.parent.span_id == run.context.span_id
        assert start(run) <= start(span) <= end(span) <= end(run)
        assert near(start(span) - start(run), ns(stats.started_at - origin))
        assert near(end(span) - start(span), ns(stats.wall_time))
        chat = tree.chat(span)
        assert start(chat) == start(span)
        assert near(end(chat) - start(chat), ns(stats.model_time))
        void = [s for s in tree.tools(span) if attr(s, "volley.tool.call.void")]
        assert len(void) == voids[stats.index - 1]
        for v in void:
            assert start(span) <= start(v) <= end(v) <= end(chat)
        tools = [s for s in tree.tools(span) if not attr(s, "volley.tool.call.void")]
        assert sorted(attr(s, "gen_ai.tool.call.id") for s in tools) == sorted(
            r.call_id for r in results
        )
        by_id = {attr(s, "gen_ai.tool.call.id"): s for s in tools}
        for r in results:
            tool_span = by_id[r.call_id]
            assert start(span) <= start(tool_span) <= end(tool_span) <= end(span)
            ran = r.started_at is not None and r.duplicate_of is None
            assert attr(tool_span, "volley.tool.call.ran") is ran
            if ran:
                assert near(end(tool_span) - start(tool_span), ns(r.duration))
                assert r.started_at is not None
                assert near(start(tool_span) - start(run), ns(r.started_at - origin))
            else:
                assert end(tool_span) == start(tool_span)
            is_error = tool_span.status.status_code is StatusCode.ERROR
            assert is_error is r.is_error
            assert (attr(tool_span, "error.type") is not None) is r.is_error
    assert len(tree.named("execute_tool ")) == result.stats.calls + sum(voids)
