"""Agents through the real SDKs, over loopback HTTP, against the simulated provider."""

from __future__ import annotations

import asyncio
import gc
import json
from collections.abc import Callable
from typing import Any

import pytest
from _adapters import ADAPTERS, close, gemini
from _tools import play

from volley import Agent, ErrorKind, RunResult, ToolReturns, tool
from volley._batch import Batch
from volley.providers import Provider
from volley.sim import SimServer, parse_scenario


@tool(effects="read")
async def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"sunny in {city}"


@tool(effects="read")
async def get_time(city: str) -> str:
    """The time in a city."""
    if city == "Atlantis":
        raise LookupError("no such city")
    return f"12:00 in {city}"


TOOLS = [get_weather, get_time, play]


def scenario(*calls: tuple[str, dict[str, Any]]) -> str:
    answer = " | ".join(f"{{result[{i}]}}" for i in range(len(calls)))
    turns = [
        {"calls": [{"name": name, "arguments": arguments} for name, arguments in calls]},
        {"text": answer},
    ]
    return json.dumps({"turns": turns})


def run(
    script: str,
    adapter: Callable[[SimServer], Provider],
    **options: Any,
) -> tuple[RunResult, SimServer]:
    async def main() -> tuple[RunResult, SimServer]:
        async with SimServer(parse_scenario(script), time_scale=0) as sim:
            provider = adapter(sim)
            try:
                result = await Agent(provider, TOOLS, **options).run("go")
            finally:
                await close(provider)
        return result, sim

    return asyncio.run(main())


SEEDS = scenario(
    ("get_weather", {"city": "Paris"}),
    ("get_weather", {"city": "Berlin"}),
    ("get_time", {"city": "Tokyo"}),
)


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_three_independent_calls_take_two_round_trips_and_four_one_at_a_time(adapter):
    parallel, parallel_sim = run(SEEDS, adapter)
    serial, serial_sim = run(SEEDS, adapter, parallel=False)
    expected = "sunny in Paris | sunny in Berlin | 12:00 in Tokyo"
    assert parallel.output == serial.output == expected
    assert parallel.stats.round_trips == len(parallel_sim.log) == 2
    assert parallel.stats.calls_per_turn == [3, 0]
    # What the provider reported is what the simulator counted.
    assert parallel.stats.input_tokens == sum(r.input_tokens for r in parallel_sim.log)
    if adapter is gemini:  # Gemini has no switch: the model still batches
        assert serial.stats.calls_per_turn == [3, 0]
        return
    assert serial.stats.round_trips == len(serial_sim.log) == 4
    assert serial.stats.calls_per_turn == [1, 1, 1, 0]
    assert parallel.stats.input_tokens < serial.stats.input_tokens  # batching reads less


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_a_finished_run_leaves_no_batch_for_the_collector(adapter):
    # Each turn's batch goes when its turn is done, by reference counting alone, though a call
    # failed at its first step and the transcript keeps its exception.
    script = scenario(("get_time", {"city": "Atlantis"}), ("get_weather", {"city": "Rome"}))
    gc.collect()
    gc.disable()
    try:
        result, _ = run(script, adapter)
        alive = sum(type(o) is Batch for o in gc.get_objects())
    finally:
        gc.enable()
    assert "no such city" in result.output.split(" | ")[0]
    assert alive == 0


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_failures_unknown_tools_bad_arguments_and_rejected_names_are_answered(adapter):
    script = scenario(
        ("get_time", {"city": "Atlantis"}),
        ("get_wether", {"city": "Rome"}),
        ("get_weather", {"town": "Oslo"}),
        ("spotify_play", {"artist": "Muse"}),
    )
    result, sim = run(script, adapter)
    assert [r.status for r in sim.log] == [200, 200]  # the strict simulator accepted every answer
    (returns,) = [m for m in result.messages if isinstance(m, ToolReturns)]
    kinds = [r.error_kind for r in returns.results]
    assert kinds == [
        ErrorKind.EXCEPTION,
        ErrorKind.UNKNOWN_TOOL,
        ErrorKind.INVALID_ARGUMENTS,
        None,
    ]
    answer = result.output.split(" | ")
    assert "LookupError: no such city" in answer[0]
    assert "Unknown tool 'get_wether'" in answer[1]
    assert "`city`: missing required argument" in answer[2]
    assert answer[3] == "playing Muse"


@pytest.mark.parametrize("adapter", ADAPTERS)
@pytest.mark.parametrize("city", ["Atlantis", "Tokyo"])
def test_every_format_tells_the_model_which_calls_failed(adapter, city):
    # Anthropic flags a failed result, Gemini names it an error; the OpenAI formats have no
    # flag, so the text says it first: a model on any of them can tell a failure from a value.
    turns = [
        {"calls": [{"name": "get_time", "arguments": {"city": city}}]},
        {"when": "any_error", "text": "failed: {result[0]}"},
        {"text": "fine: {result[0]}"},
    ]
    result, _ = run(json.dumps({"turns": turns}), adapter)
    if city == "Atlantis":
        assert result.output.startswith("failed: "), result.output
        assert "LookupError: no such city" in result.output
    else:
        assert result.output == "fine: 12:00 in Tokyo"
