"""Scenario files, turn choice and templates, and the latency model (with an injected sleep)."""

from __future__ import annotations

import asyncio
import json

import pytest

from volley.sim import (
    AnthropicMessages,
    Latency,
    Scenario,
    ScenarioError,
    SimServer,
    load_scenario,
)
from volley.sim import parse_scenario as parse
from volley.sim._script import Exchange, ReceivedResult, plan_reply

SCRIPT = {
    "turns": [
        {"text": "a", "calls": [{"name": "f", "arguments": {"q": "{result[0]}"}}]},
        {"when": "all_error", "text": "all failed"},
        {"when": "no_error", "text": "{result[0]}|{name[0]}|{result[5]}|{x}|{result_count}"},
    ],
    "final": {"text": "bye"},
}


def reply(script, history, max_calls=None):
    return plan_reply(parse(json.dumps(script)), history, max_calls=max_calls, id_prefix="p_")


def test_turns_conditions_templates_and_final():
    first = reply(SCRIPT, [])
    assert (first.text, first.turn) == ("a", 0)
    assert first.calls[0].arguments == {"q": "<no result 0>"}
    assert first.calls[0].id.startswith("p_")
    ok = [Exchange(1, (ReceivedResult("p_1", "42", False, "f"),))]
    assert reply(SCRIPT, ok).text == "42|f|<no result 5>|{x}|1"
    failed = [Exchange(1, (ReceivedResult("p_1", "boom", True, "f"),))]
    assert (reply(SCRIPT, failed).text, reply(SCRIPT, failed).turn) == ("all failed", 1)
    done = [*ok, Exchange(0)]
    assert (reply(SCRIPT, done).text, reply(SCRIPT, done).turn) == ("bye", -1)


def test_split_turn_is_replayed_from_history():
    script = {"turns": [{"text": "t", "calls": [{"name": "f"}, {"name": "g"}, {"name": "h"}]}]}
    history: list[Exchange] = []
    names = []
    for _ in range(3):
        r = reply(script, history, max_calls=1)
        names.append([c.name for c in r.calls])
        history.append(Exchange(1, (ReceivedResult(r.calls[0].id, "x"),)))
    assert names == [["f"], ["g"], ["h"]]
    assert reply(script, history, max_calls=1).text == "Done."


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"turns": [{}]}, "turns[0]: a turn needs text"),
        ({"turns": [{"text": "x", "when": "sometimes"}]}, "turns[0].when"),
        ({"turns": [{"calls": [{"arguments": {}}]}]}, "turns[0].calls[0].name"),
        ({"turns": [], "latency": {"ttft": -1}}, "latency.ttft"),
        ({"turns": [], "latency": {"speed": 1}}, "unknown field 'speed'"),
        ({"final": {"calls": [{"name": "f"}]}}, "final"),
        ([], "expected an object"),
    ],
)
def test_bad_scenarios_name_the_field(data, message):
    with pytest.raises(ScenarioError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse(json.dumps(data))


def test_load_scenario_from_file(tmp_path):
    path = tmp_path / "s.json"
    path.write_text(json.dumps(SCRIPT), encoding="utf-8")
    assert load_scenario(path).final.text == "bye"
    path.write_text("{", encoding="utf-8")
    with pytest.raises(ScenarioError, match=r"s\.json: scenario is not valid JSON"):
        load_scenario(path)


def test_latency_is_scaled_and_paced_without_real_sleeping():
    latency = Latency(ttft=0.5, per_output_token=0.01, per_input_token=0.001)
    scenario = Scenario(turns=parse(json.dumps(SCRIPT)).turns, latency=latency)
    slept: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)

    def fake_clock() -> float:
        return sum(slept)

    sim = SimServer(scenario, time_scale=2.0, sleep=fake_sleep, clock=fake_clock)
    wire = AnthropicMessages()
    body = {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}

    async def main() -> None:
        await sim.handle(wire, json.dumps(body).encode())
        response = await sim.handle(wire, json.dumps({**body, "stream": True}).encode())
        async for _ in response.body_iterator:  # type: ignore[attr-defined]
            pass

    asyncio.run(main())
    plain, streamed = sim.log
    total = 2.0 * (0.5 + 0.001 * plain.input_tokens + 0.01 * plain.output_tokens)
    assert slept[0] == pytest.approx(total)
    first, *per_event = slept[1:]
    assert first == pytest.approx(2.0 * (0.5 + 0.001 * streamed.input_tokens))
    assert sum(per_event) == pytest.approx(2.0 * 0.01 * streamed.output_tokens)
    assert len(per_event) >= 3  # paced across the deltas, not in one go


def test_time_scale_zero_never_sleeps():
    async def refuse(seconds: float) -> None:
        raise AssertionError("slept")

    sim = SimServer(
        parse(json.dumps({**SCRIPT, "latency": {"ttft": 9}})), time_scale=0, sleep=refuse
    )
    body = {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}
    asyncio.run(sim.handle(AnthropicMessages(), json.dumps(body).encode()))
    assert sim.log[0].status == 200
