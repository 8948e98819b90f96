"""A run paused and resumed through each provider's SDK: what the journal gives back is sendable.

The model's response is read back from the journal (with what the provider asked to have echoed:
Anthropic's content blocks, Responses' items, Gemini's content with its signatures) and sent to
the simulator, which checks every request as strictly as the provider would.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from _adapters import ADAPTERS, close

from volley import Agent, tool
from volley.providers import Provider
from volley.sim import SimServer, parse_scenario


@tool(effects="read")
async def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"sunny in {city}"


@tool(writes=lambda a: [f"invoice:{a['id']}"], requires_approval=True)
async def pay(id: str) -> str:
    """Pay an invoice."""
    return f"paid {id}"


SCENARIO = json.dumps(
    {
        "turns": [
            {
                "text": "Checking, then paying.",
                "calls": [
                    {"name": "get_weather", "arguments": {"city": "Paris"}},
                    {"name": "pay", "arguments": {"id": "42"}},
                ],
            },
            {"text": "{result[0]} | {result[1]}"},
        ]
    }
)


@pytest.mark.parametrize("adapter", ADAPTERS, ids=lambda a: a.__name__)
@pytest.mark.parametrize("streaming", [True, False], ids=["streamed", "whole"])
def test_a_paused_run_resumes_through_the_sdk(
    adapter: Callable[[SimServer], Provider], streaming: bool, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path}/runs.db"

    async def main() -> tuple[str, str, int]:
        async with SimServer(parse_scenario(SCENARIO), time_scale=0) as sim:
            first = adapter(sim)
            try:
                agent = Agent(first, [get_weather, pay], journal=url, streaming=streaming)
                paused = await agent.run("go", run_id="r")
                await agent.aclose()
            finally:
                await close(first)
            second = adapter(sim)  # as another process would: nothing shared but the journal
            try:
                agent = Agent(second, [get_weather, pay], journal=url, streaming=streaming)
                (pending,) = paused.pending_approvals
                done = await agent.resume("r", approvals={pending.id: True})
                await agent.aclose()
            finally:
                await close(second)
            return paused.status, done.output, len(done.turns)

    status, output, turns = asyncio.run(main())
    assert status == "paused"
    assert output == "sunny in Paris | paid 42"
    assert turns == 2
