"""Streaming dispatch, as properties over random streamed turns in virtual time.

A scripted provider streams random calls of the tool family (reads, writes, keyed, undeclared)
with random decode gaps, and ends each attempt well, at max tokens, cut short, with garbage or
with a dropped connection. Tool bodies record when they really ran (`REC`); the checks compare
that against the script alone: no write (nor a call of a tool that declares nothing) before the
message ended, declared reads before the first write start the moment they are written,
conflicting calls in the model's order, broken attempts cancelled with nothing of them in the
conversation, every figure as the script says.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from _batches import (
    FAMILY,
    conflict,
    family_args,
    free,
    keyed,
    look,
    num,
    oracle_access,
    pick,
    rd,
    strict,
    wr,
)
from _hyp import examples
from _vtime import REC, vrun
from hypothesis import given
from hypothesis import strategies as st

from volley import (
    Agent,
    CallFinished,
    CallStarted,
    IncompleteTurn,
    ModelTurn,
    RunFailed,
    RunFinished,
    RunStarted,
    TextDelta,
    ToolCall,
    ToolReturns,
    TurnFinished,
    TurnRetried,
    Usage,
)
from volley.providers import ModelRequest, streams

TOOLS = [free, rd, wr, keyed, look, strict]
WRITERS = {"wr", "keyed", "strict"}
READERS = {t.name for t in TOOLS if t.is_read_only}  # declared reads: the only early starters
ENDINGS = ("tool_calls", "tool_calls", "tool_calls", "max_tokens", "cut", "garbage", "drop")


@dataclass
class Attempt:
    """One streamed answer to the tool-calling request: calls with decode gaps, and its end."""

    calls: list[ToolCall]
    gaps: list[float]
    ending: str
    tail: float
    """Decode time after the last call, before the message ends."""
    arrived: dict[str, float] = field(default_factory=dict)
    stopped_at: float | None = None
    """When the stream stopped sending, however it ended."""
    ended_at: float | None = None
    """When the message ended with a stop reason, if it did."""


class ScriptedStream:
    """A streaming provider that plays `attempts` for the first request, then answers."""

    name = "function:scripted-stream"

    def __init__(self, attempts: list[Attempt]) -> None:
        self.attempts = attempts
        self.requests: list[ModelRequest] = []
        self.asked: list[Attempt] = []

    async def complete(self, request: ModelRequest) -> ModelTurn:
        raise AssertionError("a streaming agent must stream")

    async def stream(self, request: ModelRequest) -> AsyncIterator[Any]:
        self.requests.append(request)
        loop = asyncio.get_running_loop()
        if any(isinstance(m, ToolReturns) for m in request.messages):  # results came: answer
            yield streams.TextDelta("done")
            yield streams.TurnEnd("end", Usage(10, 5), "scripted")
            yield ModelTurn(text="done", stop="end")
            return
        attempt = self.attempts[len(self.asked)]
        self.asked.append(attempt)
        yield streams.TextDelta("working")
        for position, (call, gap) in enumerate(zip(attempt.calls, attempt.gaps, strict=True)):
            await asyncio.sleep(gap)
            attempt.arrived[call.id] = loop.time()
            yield streams.CallComplete(call, position)
        await asyncio.sleep(attempt.tail)
        attempt.stopped_at = loop.time()
        if attempt.ending == "cut":
            return
        if attempt.ending == "garbage":
            raise streams.StreamError("an event the format does not have")
        if attempt.ending == "drop":
            raise streams.StreamError("the stream broke: peer closed the connection")
        attempt.ended_at = loop.time()
        stop = "tool_calls" if attempt.ending == "tool_calls" else "max_tokens"
        yield streams.TurnEnd(stop, Usage(10, 5), "scripted")
        yield ModelTurn(text="working", calls=tuple(attempt.calls), stop=stop)


@st.composite
def attempts(draw: Any) -> list[Attempt]:
    out = []
    for a in range(2):  # the agent asks at most twice (one retry)
        calls, gaps = [], []
        for i in range(num(draw, 1, 6)):
            name = pick(draw, FAMILY)
            tag = f"a{a}c{i}"
            args = family_args(draw, name, tag, float(num(draw, 0, 5)), None)
            calls.append(ToolCall(f"id{a}-{i}", name, args))
            gaps.append(float(num(draw, 0, 3)))
        out.append(Attempt(calls, gaps, pick(draw, ENDINGS), float(num(draw, 0, 3))))
    return out


def usable(attempt: Attempt) -> bool:
    return attempt.ending == "tool_calls"


def broken(attempt: Attempt) -> bool:
    return attempt.ending in ("cut", "garbage", "drop")


def intervals(tag: str) -> list[tuple[float, float]]:
    spans = [(s, e) for s, e in REC.intervals.get(tag, [])]
    assert all(s is not None and e is not None for s, e in spans), f"{tag} never ended"
    return spans  # type: ignore[return-value]


@given(attempts())
@examples(300)
def test_streaming_dispatch_starts_only_what_is_safe_and_loses_nothing(
    script: list[Attempt],
) -> None:
    retries = 1
    provider = ScriptedStream(script)
    events: list[Any] = []

    async def main() -> Any:
        agent = Agent(provider, TOOLS, stream_retries=retries, tool_timeout=None)
        try:
            async for event in agent.run_stream("go"):
                events.append(event)
        except IncompleteTurn as exc:
            return exc
        return None

    error = vrun(main)
    # Attempts are asked in order until one is not broken or retries run out.
    played = provider.asked
    last = played[-1]
    assert all(broken(a) for a in played[:-1])
    assert len(played) == retries + 1 or not broken(last)

    for a in played:
        for position, call in enumerate(a.calls):
            spans = intervals(call.arguments["tag"])  # type: ignore[index]
            before_write = not any(c.name in WRITERS for c in a.calls[: position + 1])
            early = call.name in READERS and before_write
            if not usable(a):
                # Only declared reads ever started; they were cancelled when the attempt failed.
                assert not spans or (early and spans[0][0] == a.arrived[call.id])
                for start, end in spans:  # cancelled the moment the attempt failed
                    assert a.stopped_at is not None
                    assert end == min(a.stopped_at, start + call.arguments["d"])  # type: ignore[index]
                continue
            assert len(spans) <= 1
            assert a.ended_at is not None
            if early:  # a read written before any write starts as soon as it is written
                assert spans
                assert spans[0][0] == a.arrived[call.id]
            else:  # a write, an undeclared call, everything after a write: the whole message
                assert not spans or spans[0][0] >= a.ended_at

    if usable(last):
        assert error is None
        result = events[-1].result
        assert isinstance(events[-1], RunFinished)
        model_turn, returns = result.messages[1], result.messages[2]
        assert isinstance(returns, ToolReturns)
        assert [r.call_id for r in returns.results] == [c.id for c in last.calls]
        assert model_turn.calls == tuple(last.calls)
        # Conflicting calls never overlap and run in the order the model wrote them.
        ran = [(c, intervals(c.arguments["tag"])) for c in last.calls]  # type: ignore[index]
        for i, (a_call, a_spans) in enumerate(ran):
            for b_call, b_spans in ran[i + 1 :]:
                access_a = oracle_access(a_call.name, dict(a_call.arguments))  # type: ignore[arg-type]
                access_b = oracle_access(b_call.name, dict(b_call.arguments))  # type: ignore[arg-type]
                if a_spans and b_spans and conflict(access_a, access_b):
                    assert a_spans[0][1] <= b_spans[0][0]
        # Figures: when each call was written, started and ended.
        turn = result.stats.turns[0]
        assert turn.streamed
        assert turn.retries == len(played) - 1
        assert turn.message_ended_at == last.ended_at
        for timing, call in zip(turn.timeline, last.calls, strict=True):
            assert timing.arguments_done == last.arrived[call.id]
            spans = intervals(call.arguments["tag"])  # type: ignore[index]
            if spans:
                assert (timing.started, timing.ended) == spans[0]
        assert turn.ended_at == max([turn.message_ended_at, *(t.ended for t in turn.timeline)])
        assert turn.early_dispatch_saved >= 0
    else:
        assert isinstance(error, IncompleteTurn)
        assert error.messages == list(provider.requests[-1].messages[:1])  # only the prompt
        assert error.turn is None or error.turn.stop == "max_tokens"

    check_events(events, played)
    # Every result that ran says when, cancelled ones included: the times of the body itself.
    tags = {c.id: c.arguments["tag"] for a in played for c in a.calls}  # type: ignore[index]
    for event in events:
        if isinstance(event, CallFinished) and event.result.call_id in tags:
            spans = intervals(tags[event.result.call_id])
            if spans:
                assert (event.result.started_at, event.result.ended_at) == spans[0]


def check_events(events: list[Any], played: list[Attempt]) -> None:
    """Per call: started once per attempt before it finished; retries announced; order sane."""
    started: dict[str, int] = {}
    finished: dict[str, int] = {}
    for position, event in enumerate(events):
        if isinstance(event, CallStarted):
            assert event.call.id not in started
            started[event.call.id] = position
        elif isinstance(event, CallFinished):
            assert event.result.call_id in started
            assert event.result.call_id not in finished
            finished[event.result.call_id] = position
            assert started[event.result.call_id] < position
    assert set(finished) == set(started)  # every started call was answered, even if cancelled
    retried = [e for e in events if isinstance(e, TurnRetried)]
    assert len(retried) == sum(broken(a) for a in played[:-1])
    assert isinstance(events[0], RunStarted)
    assert isinstance(events[1], TextDelta)
    assert isinstance(events[-1], RunFinished | RunFailed)
    assert sum(isinstance(e, RunFinished | RunFailed) for e in events) == 1
    for event in events:
        if isinstance(event, TurnFinished):
            assert [r.call_id for r in event.results] == [c.id for c in event.message.calls]


def test_leaving_the_stream_early_cancels_the_run_and_its_calls() -> None:
    script = [
        Attempt(
            [ToolCall("r", "rd", {"tag": "slow", "d": 100})],
            [0.0],
            "tool_calls",
            tail=50.0,
        )
    ]

    async def main() -> None:
        agent = Agent(ScriptedStream(script), TOOLS)
        stream = agent.run_stream("go")
        async for event in stream:
            if isinstance(event, CallStarted):
                break
        await stream.aclose()  # type: ignore[attr-defined]
        await asyncio.sleep(0)

    vrun(main)
    ((start, end),) = intervals("slow")
    assert end == start  # cancelled at once, not after its 100 s


@pytest.mark.parametrize("ending", ["max_tokens", "cut"])
def test_an_unusable_message_leaves_no_call_running(ending: str) -> None:
    script = [
        Attempt(
            [ToolCall("r", "rd", {"tag": "early", "d": 100}), ToolCall("w", "wr", {"tag": "w"})],
            [1.0, 1.0],
            ending,
            tail=1.0,
        )
    ]

    async def main() -> IncompleteTurn:
        agent = Agent(ScriptedStream(script * 2), TOOLS, stream_retries=1)
        with pytest.raises(IncompleteTurn) as caught:
            await agent.run("go")
        return caught.value

    error = vrun(main)
    assert intervals("w") == []
    for start, end in intervals("early"):
        assert end - start == 1.0 + 1.0  # cancelled when the attempt ended badly
    assert "output tokens" in str(error) or "ended before the message did" in str(error)
    assert [m.kind for m in error.messages] == ["user"]
