"""A stream cut at every event, in every wire format: no write, nor an undeclared call, runs twice.

The simulator breaks the first streamed response after each possible number of events, cleanly
(the body just stops) or abruptly (the connection drops), through the official SDKs. The turn is
asked again and the retry is whole. Whatever the cut, every call of a tool that may write (it
declares a write, or declares nothing) runs exactly once per message that entered the
conversation, and never for a message that did not; only declared reads may have started early,
in the broken attempt, and been run again.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

import pytest
from _adapters import ADAPTERS, close

from volley import Agent, IncompleteTurn, ModelTurn, RunResult, TurnRetried, UserPrompt, tool
from volley.sim import Scenario, SimServer, parse_scenario

BODIES: Counter[str] = Counter()


@tool(effects="read")
async def look(topic: str) -> str:
    BODIES[f"look {topic}"] += 1
    await asyncio.sleep(0)
    return f"about {topic}"


@tool
async def notify(who: str) -> str:
    """Declares nothing: it may write."""
    BODIES[f"notify {who}"] += 1
    return f"told {who}"


@tool(effects="write")
async def store(key: str) -> str:
    BODIES[f"store {key}"] += 1
    return f"stored {key}"


TOOLS = [look, notify, store]
SCRIPT = parse_scenario(
    json.dumps(
        {
            # Events half a millisecond a token apart: a call that may start does, before the cut.
            "latency": {"per_output_token": 0.0005},
            "turns": [
                {
                    "text": "On it.",
                    "calls": [
                        {"name": "look", "arguments": {"topic": "tides"}},
                        {"name": "notify", "arguments": {"who": "ops"}},
                        {"name": "store", "arguments": {"key": "k1"}},
                        {"name": "look", "arguments": {"topic": "moons"}},
                    ],
                },
                {"text": "Done: {results}"},
            ],
        }
    )
)
MAY_WRITE = ("notify", "store")


Check = Callable[[int, RunResult, int], None]
"""Checks one run: the cut (events sent), its result, how many times the turn was asked again."""


async def sweep(
    adapter: Any,
    script: Scenario,
    cuts: Iterable[int],
    check: Check,
    *,
    abrupt: bool = False,
    last: int | None = None,
    **options: Any,
) -> list[tuple[int, RunResult, int]]:
    """Cut the first stream after each number of events in `cuts`, until a cut no longer breaks
    the message (or the cut `last` is reached); `check` each run. `options` go to `Agent`."""
    runs: list[tuple[int, RunResult, int]] = []
    async with SimServer(script) as sim:
        provider = adapter(sim)
        try:
            for after in cuts:
                BODIES.clear()
                sim.cut_streams(after, abrupt=abrupt)
                events = [e async for e in Agent(provider, TOOLS, **options).run_stream("go")]
                retried = sum(isinstance(e, TurnRetried) for e in events)
                runs.append((after, events[-1].result, retried))
                check(after, events[-1].result, retried)
                if not retried or after == last:
                    return runs
        finally:
            await close(provider)
    raise AssertionError("no stream is that long")


def arguments(call: Any) -> dict[str, Any]:
    raw = call.arguments
    return json.loads(raw) if isinstance(raw, str) else dict(raw)


def check(after: int, result: RunResult, retried: int) -> None:
    turn = result.messages[1]
    assert isinstance(turn, ModelTurn)
    written = Counter(f"{c.name} {next(iter(arguments(c).values()))}" for c in turn.calls)
    for body, times in BODIES.items():
        if body.startswith(MAY_WRITE):
            assert times == written[body], (after, body, times, retried)  # exactly once
        else:
            assert times >= written[body], (after, body)
    assert all(BODIES[name] for name in written)


@pytest.mark.parametrize("adapter", ADAPTERS)
@pytest.mark.parametrize("abrupt", [False, True], ids=["clean", "abrupt"])
def test_a_cut_at_any_event_runs_no_write_twice(adapter: Any, abrupt: bool) -> None:
    # Done once the whole message arrives before the cut (an abrupt cut past the last event
    # still drops the connection, and some SDKs then raise: the sweep goes on to cut 35).
    runs = asyncio.run(sweep(adapter, SCRIPT, range(200), check, abrupt=abrupt, last=35))
    assert len(runs) > 5
    assert sum(retried for _, _, retried in runs) >= len(runs) - 1


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_a_stream_that_keeps_breaking_runs_nothing_that_may_write(adapter: Any) -> None:
    async def main() -> IncompleteTurn:
        async with SimServer(SCRIPT, time_scale=0) as sim:
            provider = adapter(sim)
            try:
                for after in range(4):  # every format sends more than 4 events here
                    BODIES.clear()
                    sim.cut_streams(after, count=2)
                    with pytest.raises(IncompleteTurn) as caught:
                        await Agent(provider, TOOLS, stream_retries=1).run("go")
                    assert not any(b.startswith(MAY_WRITE) for b in BODIES), (after, BODIES)
                    assert caught.value.messages == [UserPrompt("go")]
                return caught.value
            finally:
                await close(provider)

    assert "asked 2 times" in str(asyncio.run(main()))
