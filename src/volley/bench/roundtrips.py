"""5. The seeds' round-trip claims, measured: an agent over a real SDK against the simulated model.

The seeds say 3 parallel calls take 2 model round trips instead of 4, and that with ~150-token
results the parallel run reads about half the input tokens (3 calls) or a third (5 calls). Here an
`Agent` talks to the simulated provider over loopback HTTP through the official Anthropic SDK,
once with parallel calls and once with `parallel=False`, and the figures are what the provider
reported. Token counts are the simulator's (a regex tokenizer): compare the ratios, not the counts.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from anthropic import AsyncAnthropic

from volley import Agent, RunResult, tool
from volley.providers.anthropic import AnthropicProvider
from volley.sim import SimServer, parse_scenario

from ._harness import Goal, Report, ms, times

RESULT_WORDS = 150
"""Each tool result is about 150 tokens, as in the seeds' table."""


def make_tool(scale: float) -> Any:
    @tool(effects="read")
    async def lookup(topic: str) -> str:
        """Look a topic up."""
        await asyncio.sleep(1.0 * scale)
        return " ".join([topic] * RESULT_WORDS)

    return lookup


def scenario(calls: int) -> str:
    return json.dumps(
        {
            "latency": {"ttft": 0.5, "per_output_token": 0.01, "per_input_token": 0.00002},
            "turns": [
                {
                    "text": "Let me look these up.",
                    "calls": [
                        {"name": "lookup", "arguments": {"topic": f"topic{i}"}}
                        for i in range(calls)
                    ],
                },
                {"text": "Here is what I found."},
            ],
        }
    )


async def one_run(calls: int, parallel: bool, scale: float) -> tuple[RunResult, float]:
    async with SimServer(parse_scenario(scenario(calls)), time_scale=scale) as sim:
        client = AsyncAnthropic(base_url=sim.base_url, api_key="sim", max_retries=0)
        agent = Agent(
            AnthropicProvider("claude-sim", client=client), [make_tool(scale)], parallel=parallel
        )
        try:
            started = asyncio.get_running_loop().time()
            result = await agent.run("Look up these topics.")
            wall = asyncio.get_running_loop().time() - started
        finally:
            await client.close()
    return result, wall


async def run(quick: bool = False) -> Report:
    scale = 0.02 if quick else 0.1
    report = Report(
        key="roundtrips",
        title=f"5. The seeds' scenario: Anthropic SDK, simulated model (time x{scale})",
        columns=[
            "calls",
            "mode",
            "round trips",
            "calls per turn",
            "input tokens",
            "wall",
            "tokens vs one-at-a-time",
            "wall vs one-at-a-time",
            "seeds' claim",
        ],
    )
    claims = {3: "2 vs 4 trips, ~50%", 5: "~33% of tokens"}
    for calls in (3, 5):
        parallel, parallel_wall = await one_run(calls, True, scale)
        serial, serial_wall = await one_run(calls, False, scale)
        tokens = parallel.stats.input_tokens / serial.stats.input_tokens
        wall = parallel_wall / serial_wall
        report.check(f"{calls} calls: 2 round trips in parallel", parallel.stats.round_trips == 2)
        report.check(
            f"{calls} calls: {calls + 1} round trips one at a time",
            serial.stats.round_trips == calls + 1,
        )
        for mode, result, seconds in (
            ("one at a time", serial, serial_wall),
            ("volley", parallel, parallel_wall),
        ):
            report.rows.append(
                [
                    str(calls),
                    mode,
                    str(result.stats.round_trips),
                    str(result.stats.calls_per_turn),
                    f"{result.stats.input_tokens:,}",
                    ms(seconds),
                    times(tokens) if mode == "volley" else "1.000x",
                    times(wall) if mode == "volley" else "1.000x",
                    claims[calls] if mode == "volley" else "",
                ]
            )
        report.figures[f"tokens_ratio_{calls}"] = tokens
        report.figures[f"wall_ratio_{calls}"] = wall
        report.goals.append(Goal(f"{calls} calls: input tokens vs one at a time", tokens, 0.67))
    report.notes.append("round trips and tokens are the provider's own usage figures, per run")
    return report
