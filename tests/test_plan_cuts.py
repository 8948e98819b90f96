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
from _adapters import ADAPTERS
from test_stream_cut_sweep import BODIES, MAY_WRITE, sweep

from volley import ModelTurn, RunResult
from volley.sim import parse_scenario

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


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_a_cut_at_any_event_of_a_plan_runs_no_write_twice(adapter: Any) -> None:
    cuts = [*range(12), *range(12, 300, 5)]  # every early cut, then a sample
    runs = asyncio.run(sweep(adapter, SCRIPT, cuts, check, plan=True))
    assert sum(retried for _, _, retried in runs) > 2  # Gemini sends few events: calls whole
