"""A streamed plan cut at every event, in every wire format: no step that may write runs twice.

Every one of the first events is cut after, then every fifth (a plan streams in many small
pieces, and the suite must stay quick). Steps that only read start while the plan is written;
when the stream breaks, they are cancelled and the turn is asked again. Steps that may write
(declared or undeclared) only ever start once the message has ended well, so each runs exactly
once per plan that entered the conversation.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from typing import Any

import pytest
from _adapters import ADAPTERS, close
from test_stream_cut_sweep import BODIES, MAY_WRITE, TOOLS

from volley import Agent, ModelTurn, RunResult, TurnRetried
from volley.sim import SimServer, parse_scenario

STEPS = [
    {"id": "t", "tool": "look", "arguments": {"topic": "tides"}},
    {"id": "m", "tool": "look", "arguments": {"topic": {"$ref": "t", "pointer": ""}}},
    {"id": "o", "tool": "notify", "arguments": {"who": "ops"}},
    {"id": "k", "tool": "store", "arguments": {"key": "k1"}},
    {"id": "z", "tool": "look", "arguments": {"topic": "moons"}},
]
SCRIPT = parse_scenario(
    json.dumps(
        {
            "latency": {"per_output_token": 0.0005},
            "turns": [
                {
                    "text": "On it.",
                    "calls": [
                        {"name": "look", "arguments": {"topic": "first"}},
                        {"name": "run_plan", "arguments": {"steps": STEPS}},
                    ],
                },
                {"text": "Done: {results}"},
            ],
        }
    )
)
WRITTEN = Counter(["look first", "look tides", "look about tides", "notify ops", "store k1"])
WRITTEN["look moons"] += 1


def check(after: int, result: RunResult, retried: int) -> None:
    turn = result.messages[1]
    assert isinstance(turn, ModelTurn)
    assert [c.name for c in turn.calls] == ["look", "run_plan"]
    for body, times in BODIES.items():
        if body.startswith(MAY_WRITE):
            assert times == WRITTEN[body], (after, body, times, retried)  # exactly once
        else:
            assert times >= WRITTEN[body], (after, body)
    assert all(BODIES[name] for name in WRITTEN), (after, BODIES)
    plan = json.loads(result.messages[2].results[1].content)
    assert list(plan) == ["t", "m", "o", "k", "z"]
    assert all("result" in outcome for outcome in plan.values()), plan


async def sweep(adapter: Any) -> int:
    cuts = 0
    async with SimServer(SCRIPT) as sim:
        provider = adapter(sim)
        try:
            for after in [*range(12), *range(12, 300, 5)]:  # every early cut, then a sample
                BODIES.clear()
                sim.cut_streams(after)
                agent = Agent(provider, TOOLS, plan=True)
                events = [e async for e in agent.run_stream("go")]
                retried = sum(isinstance(e, TurnRetried) for e in events)
                check(after, events[-1].result, retried)
                cuts += retried
                if not retried:
                    return cuts
        finally:
            await close(provider)
    raise AssertionError("no stream is that long")


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_a_cut_at_any_event_of_a_plan_runs_no_write_twice(adapter: Any) -> None:
    assert asyncio.run(sweep(adapter)) > 2  # Gemini sends few events: each call whole
