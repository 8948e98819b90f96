"""Streaming dispatch end to end: agents over the real SDKs against the simulator's SSE streams.

The simulator paces its events by the tokens they carry, so calls arrive one after another as a
model would write them. Tools record when they really ran, on the loop's clock (the agent's too).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest
from _adapters import ADAPTERS, close, openai_chat

from volley import Agent, CallStarted, IncompleteTurn, RunResult, ToolReturns, TurnRetried, tool
from volley.providers import Provider
from volley.sim import SimServer, parse_scenario
from volley.sim._tokens import count_tokens

RAN: dict[str, list[tuple[float, float | None]]] = {}


def _begin(tag: str) -> list[Any]:
    span: list[Any] = [asyncio.get_running_loop().time(), None]
    RAN.setdefault(tag, []).append(span)  # type: ignore[arg-type]
    return span


@tool(effects="read")
async def lookup(topic: str) -> str:
    """Look a topic up."""
    span = _begin(topic)
    try:
        await asyncio.sleep(0.001)
    finally:
        span[1] = asyncio.get_running_loop().time()
    return f"about {topic}"


@tool(effects="write", writes=lambda a: [f"note:{a['name']}"])
async def save_note(name: str, text: str) -> str:
    """Save a note."""
    span = _begin(name)
    span[1] = span[0]
    return f"saved {name}"


TOOLS = [lookup, save_note]
LATENCY = {"ttft": 0.01, "per_output_token": 0.002}
"""About 500 tokens a second: a call of ~15 tokens takes ~30 ms to write."""


def script(*calls: tuple[str, dict[str, Any]], latency: dict[str, float] = LATENCY) -> str:
    answer = " | ".join(f"{{result[{i}]}}" for i in range(len(calls)))
    turns = [
        {"text": "Working on it.", "calls": [{"name": n, "arguments": a} for n, a in calls]},
        {"text": answer},
    ]
    return json.dumps({"latency": latency, "turns": turns})


def run(
    text: str,
    adapter: Callable[[SimServer], Provider],
    *,
    sim_options: dict[str, Any] | None = None,
    prepare: Callable[[SimServer], None] = lambda sim: None,
    **options: Any,
) -> tuple[RunResult, SimServer, list[Any]]:
    RAN.clear()
    events: list[Any] = []

    async def main() -> tuple[RunResult, SimServer]:
        async with SimServer(parse_scenario(text), **(sim_options or {})) as sim:
            prepare(sim)
            provider = adapter(sim)
            try:
                async for event in Agent(provider, TOOLS, **options).run_stream("go"):
                    events.append(event)
            finally:
                await close(provider)
        return events[-1].result, sim

    result, sim = asyncio.run(main())
    return result, sim, events


WRITE_AFTER_READS = script(
    ("lookup", {"topic": "the history of the printing press in Europe"}),
    ("lookup", {"topic": "movable type in Korea and China before Gutenberg"}),
    ("save_note", {"name": "press", "text": "Gutenberg, about 1440, Mainz"}),
    ("lookup", {"topic": "paper making along the Silk Road"}),
)


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_reads_start_while_the_model_writes_and_a_write_waits_for_the_end(adapter: Any) -> None:
    result, sim, events = run(WRITE_AFTER_READS, adapter)
    turn = result.turns[0]
    first, second, write, after = turn.timeline
    assert turn.streamed
    assert all(r.stream for r in sim.log)
    # The two reads before the write were handed over the moment each was written, before the
    # end (when their tasks take their first step is the event loop's to say: on a loaded
    # machine the rest of the stream may be read in one go first).
    for timing in (first, second):
        assert timing.started is not None
        assert timing.arguments_done <= timing.started
        assert timing.arguments_done < turn.message_ended_at
    assert first.arguments_done < second.arguments_done
    # The write, and the read after it, waited for the whole message.
    assert write.started is not None
    assert after.started is not None
    assert write.started >= turn.message_ended_at
    assert after.started >= turn.message_ended_at
    (returns,) = [m for m in result.messages if isinstance(m, ToolReturns)]
    assert [r.content for r in returns.results] == [
        "about the history of the printing press in Europe",
        "about movable type in Korea and China before Gutenberg",
        "saved press",
        "about paper making along the Silk Road",
    ]
    assert result.output == " | ".join(r.content for r in returns.results)
    assert [(e.call.name, e.early) for e in events if isinstance(e, CallStarted)] == [
        ("lookup", True),
        ("lookup", True),
        ("save_note", False),
        ("lookup", False),
    ]
    assert turn.ended_at >= turn.message_ended_at


def test_calls_all_sent_at_index_zero_still_start_one_by_one() -> None:
    text = script(
        ("lookup", {"topic": "alpha particles and the gold foil"}),
        ("lookup", {"topic": "beta decay and the neutrino"}),
        ("lookup", {"topic": "gamma rays from distant galaxies"}),
    )
    result, _, events = run(text, openai_chat, sim_options={"ollama": True})
    turn = result.turns[0]
    starts = [t.started for t in turn.timeline]
    assert all(s is not None and s < turn.message_ended_at for s in starts[:2])
    assert starts == sorted(starts)  # type: ignore[type-var]
    started = [e.call.arguments for e in events if isinstance(e, CallStarted)]
    assert [json.loads(a) if isinstance(a, str) else a for a in started] == [
        {"topic": "alpha particles and the gold foil"},
        {"topic": "beta decay and the neutrino"},
        {"topic": "gamma rays from distant galaxies"},
    ]


@pytest.mark.parametrize("abrupt", [False, True], ids=["stream-ends", "connection-drops"])
@pytest.mark.parametrize("after_events", [1, 3, 5])
@pytest.mark.parametrize("adapter", ADAPTERS)
def test_a_broken_stream_is_asked_again_and_nothing_of_it_is_kept(
    adapter: Any, after_events: int, abrupt: bool
) -> None:
    def cut(sim: SimServer) -> None:
        sim.cut_streams(after_events, abrupt=abrupt)

    result, sim, events = run(WRITE_AFTER_READS, adapter, prepare=cut)
    first_try = sim.log[0]
    assert first_try.cut is not None
    assert [r.status for r in sim.log] == [200, 200, 200]  # cut, asked again, answered
    assert result.turns[0].retries == 1
    assert sum(isinstance(e, TurnRetried) for e in events) == 1
    assert len(RAN["press"]) == 1  # the write ran once, after the whole second message
    (returns,) = [m for m in result.messages if isinstance(m, ToolReturns)]
    assert [r.is_error for r in returns.results] == [False] * 4
    assert [m.kind for m in result.messages] == ["user", "model", "tools", "model"]


def cap_inside_the_write() -> int:
    """An output cap that ends the message inside the write's arguments."""
    turn = json.loads(WRITE_AFTER_READS)["turns"][0]
    spent = count_tokens(turn["text"])
    for call in turn["calls"][:2]:
        spent += count_tokens(call["name"]) + count_tokens(json.dumps(call["arguments"]))
    return spent + count_tokens("save_note") + 3


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_a_message_cut_by_max_tokens_runs_no_write_and_is_not_kept(adapter: Any) -> None:
    with pytest.raises(IncompleteTurn, match="output tokens") as caught:
        run(WRITE_AFTER_READS, adapter, max_tokens=cap_inside_the_write())
    error = caught.value
    assert "press" not in RAN  # the write, cut mid-arguments, never ran
    assert [m.kind for m in error.messages] == ["user"]
    assert error.turn is not None
    assert error.turn.stop == "max_tokens"
    assert [c.name for c in error.turn.calls] == ["lookup", "lookup"]  # whole ones only
