"""Plans over the real SDKs, streamed from the simulator: each wire format carries `run_plan`
out and its one result back, and a plan starts early only when every step of it only reads."""

from __future__ import annotations

import json
from typing import Any

import pytest
from _adapters import ADAPTERS
from test_streaming_agent_sim import run, script

from volley import CallStarted, ToolReturns


def plan(*steps: tuple[str, str, dict[str, Any]]) -> tuple[str, dict[str, Any]]:
    return "run_plan", {"steps": [{"id": i, "tool": t, "arguments": a} for i, t, a in steps]}


READS = plan(
    ("a", "lookup", {"topic": "ink"}),
    ("b", "lookup", {"topic": {"$ref": "a"}}),
)
WITH_A_WRITE = plan(
    ("n", "save_note", {"name": "ink", "text": {"$ref": "a2"}}),
    ("a2", "lookup", {"topic": "paper"}),
)
TURN = script(
    READS,
    ("lookup", {"topic": "the long history of movable type and the presses that followed"}),
    WITH_A_WRITE,
    ("lookup", {"topic": "after"}),
)


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_plans_stream_out_and_come_back_as_one_result_each(adapter: Any) -> None:
    result, sim, events = run(TURN, adapter, plan=True)
    turn = result.turns[0]
    assert turn.calls == 6  # two plans of two steps, two direct calls
    assert [r.tool_calls for r in sim.log] == [4, 0]
    started = {e.call.id.split("/")[-1]: e for e in events if isinstance(e, CallStarted)}
    assert started["a"].early
    assert started["b"].early
    for late in ("n", "a2"):
        assert not started[late].early
    timeline = {t.call_id.split("/")[-1]: t for t in turn.timeline}
    assert timeline["a"].started is not None
    assert timeline["a"].arguments_done < turn.message_ended_at
    assert timeline["n"].started is not None
    assert timeline["n"].started >= turn.message_ended_at
    (returns,) = [m for m in result.messages if isinstance(m, ToolReturns)]
    first, _, second, _ = returns.results
    assert json.loads(first.content) == {
        "a": {"result": "about ink"},
        "b": {"result": "about about ink"},
    }
    assert json.loads(second.content) == {
        "n": {"result": "saved ink"},
        "a2": {"result": "about paper"},
    }
    # The model was sent the plans' results in its own format, and answered from them.
    assert result.output.startswith(first.content + " | about the long history")


LONG_PLAN = script(
    plan(
        ("a", "lookup", {"topic": "ink"}),
        ("b", "lookup", {"topic": {"$ref": "a", "pointer": ""}}),
        ("later", "lookup", {"topic": {"$ref": "n"}}),
        ("n", "save_note", {"name": "ink", "text": "the history of ink, from soot to gall"}),
        ("after", "lookup", {"topic": "comes after the write"}),
    )
)


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_a_plans_first_steps_start_while_the_model_writes_the_rest(adapter: Any) -> None:
    result, _, events = run(LONG_PLAN, adapter, plan=True)
    turn = result.turns[0]
    timeline = {t.call_id.split("/")[-1]: t for t in turn.timeline}
    early = {e.call.id.split("/")[-1]: e.early for e in events if isinstance(e, CallStarted)}
    plan_written = timeline["n"].arguments_done  # steps not started early: when the plan ended
    started = timeline["a"].started
    assert started is not None
    assert early == {"a": True, "b": True, "later": False, "n": False, "after": False}
    if adapter.__name__ == "gemini":  # each call comes whole: its steps start when it does
        assert started >= plan_written
    else:  # handed over before the plan was written (when it takes its first step is the loop's)
        assert timeline["a"].arguments_done < plan_written
    for held in ("n", "after"):  # the write, and what comes after it, wait for the message
        held_start = timeline[held].started
        assert held_start is not None
        assert held_start >= turn.message_ended_at
    (returns,) = [m for m in result.messages if isinstance(m, ToolReturns)]
    assert json.loads(returns.results[0].content) == {
        "a": {"result": "about ink"},
        "b": {"result": "about about ink"},
        "later": {"result": "about saved ink"},
        "n": {"result": "saved ink"},
        "after": {"result": "about comes after the write"},
    }
