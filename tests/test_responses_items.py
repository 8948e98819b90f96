"""The Responses adapter sends every output item back as it came, over the SDK, to a model that
reasons: messages keep their id, status and phase, so a reasoning item keeps its following item.

The simulator refuses what the real API refuses (see ``test_sim_responses_reasoning``), so a
whole conversation that runs against it with reasoning on is the proof; the old rebuild of a
message as ``{"role": "assistant", "content": text}`` is shown refused on the adapter's own
items. A stream cut anywhere leaves a turn whose items the API still takes back.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx2
import pytest
from _hyp import examples
from hypothesis import given
from hypothesis import strategies as st
from openai.types.responses import Response

from tests import _adapters
from tests._streaming import replies
from tests.test_sim_streams import request
from volley import ModelTurn, ToolResult, UserPrompt, tool
from volley._messages import Message, ToolReturns
from volley.providers import ModelRequest
from volley.providers._names import ToolNames
from volley.providers.openai_responses import _map_messages, turn_from_response
from volley.providers.streams import OpenAIResponsesAssembler
from volley.sim import OpenAIResponses, SimServer, WireError, parse_scenario
from volley.sim._wire import Rendering, output_tokens

SCENARIO = parse_scenario(
    json.dumps(
        {
            "turns": [
                {
                    "text": "Let me check both.",
                    "calls": [
                        {"name": "get_weather", "arguments": {"city": "Paris"}},
                        {"name": "get_time", "arguments": {"zone": "Europe/Paris"}},
                    ],
                },
                {
                    "text": "And Berlin.",
                    "calls": [{"name": "get_weather", "arguments": {"city": "Berlin"}}],
                },
                {"text": "Paris: {result[0]}."},
                {"text": "Nothing else."},
            ]
        }
    )
)
NAMES = ToolNames(["get_weather", "get_time"])


@tool(effects="read")
async def get_weather(city: str) -> str:
    return city


@tool(effects="read")
async def get_time(zone: str) -> str:
    return zone


async def converse(sim: SimServer, *, stream: bool) -> list[ModelTurn]:
    """Two user prompts, answered through every call the script makes."""
    adapter = _adapters.openai_responses(sim)
    messages: list[Message] = []
    turns: list[ModelTurn] = []
    try:
        for prompt in ("Weather in Paris and Berlin?", "Anything else?"):
            messages.append(UserPrompt(prompt))
            for _ in range(5):
                request = ModelRequest(messages, [get_weather, get_time])
                if stream:
                    turn = [item async for item in adapter.stream(request)][-1]
                else:
                    turn = await adapter.complete(request)
                turns.append(turn)
                messages.append(turn)
                if not turn.calls:
                    break
                results = tuple(
                    ToolResult(c.id, c.name, f"{c.name}-{k}") for k, c in enumerate(turn.calls)
                )
                messages.append(ToolReturns(results))
    finally:
        await _adapters.close(adapter)
    return turns


@pytest.mark.parametrize("stream", [False, True])
def test_a_reasoning_conversation_runs_with_every_item_echoed(stream):
    async def main() -> tuple[list[ModelTurn], SimServer]:
        async with SimServer(
            SCENARIO, time_scale=0, formats=[OpenAIResponses(reasoning=True)]
        ) as sim:
            return await converse(sim, stream=stream), sim

    turns, sim = asyncio.run(main())
    assert [r.status for r in sim.log] == [200] * 4, [r.error for r in sim.log]
    assert [r.turn for r in sim.log] == [0, 1, 2, 3]
    assert [t.text for t in turns] == [
        "Let me check both.",
        "And Berlin.",
        "Paris: get_weather-0.",
        "Nothing else.",
    ]
    for turn in turns:
        items = turn.provider_data["responses_items"]
        assert [i["type"] for i in items] == [
            "reasoning",
            "message",
            *["function_call"] * len(turn.calls),
        ]
        reasoning, message = items[:2]
        assert reasoning["id"].startswith("rs_")
        assert message["id"] == "msg_" + reasoning["id"].removeprefix("rs_")
        assert message["status"] == "completed"
        assert message["phase"] == ("commentary" if turn.calls else "final_answer")
        assert message["content"] == [{"type": "output_text", "text": turn.text, "annotations": []}]


def test_the_old_rebuild_of_a_message_is_refused_after_reasoning():
    async def main() -> tuple[int, dict[str, Any], int]:
        async with SimServer(
            SCENARIO, time_scale=0, formats=[OpenAIResponses(reasoning=True)]
        ) as sim:
            (turn, *_) = await converse(sim, stream=False)
            items = _map_messages(
                [UserPrompt("Weather?"), turn, ToolReturns(_results(turn))], NAMES
            )
            rebuilt = [
                {"role": "assistant", "content": turn.text} if i.get("type") == "message" else i
                for i in items
            ]
            async with httpx2.AsyncClient(base_url=sim.base_url) as client:
                body = {"model": "m", "tools": [], "input": items}
                echoed = await client.post("/v1/responses", json=body)
                refused = await client.post("/v1/responses", json={**body, "input": rebuilt})
                return echoed.status_code, refused.json(), refused.status_code

    echoed, refused, status = asyncio.run(main())
    assert echoed == 200
    assert status == 400
    assert refused["error"]["message"].endswith(
        "of type 'reasoning' was provided without its required following item."
    )


def _results(turn: ModelTurn) -> tuple[ToolResult, ...]:
    return tuple(ToolResult(c.id, c.name, "ok") for c in turn.calls)


def rendering(reply: Any) -> Rendering:
    return Rendering(f"resp_sim{7:021d}", 1700000000, 17, output_tokens(reply))


@examples(60)
@given(reply=replies, data=st.data())
def test_a_stream_cut_anywhere_leaves_items_the_api_takes_back(reply, data):
    """Whatever arrived, the turn's items, their outputs and a new prompt are a valid input."""
    wire = OpenAIResponses(reasoning=True)
    req = request()
    events = [json.loads(e.data) for e in wire.events(req, reply, rendering(reply))]
    cut = data.draw(st.integers(0, len(events)), label="events")
    assembler = OpenAIResponsesAssembler(ToolNames([c.name for c in reply.calls]))
    for event in events[:cut]:
        assembler.feed(event)
    turn = assembler.finish()
    items = _map_messages(
        [UserPrompt("go"), turn, ToolReturns(_results(turn)), UserPrompt("again")], NAMES
    )
    try:
        wire.parse({"model": "m", "input": items})
    except WireError as error:
        pytest.fail(f"refused after {cut} of {len(events)} events: {error.message}")
    messages = [i for i in items if i.get("type") == "message"]
    assert [m["content"][0]["text"] for m in messages] == ([turn.text] if turn.text else [])
    for message in messages:
        assert reply.text.startswith(message["content"][0]["text"])
        done = message["content"][0]["text"] == reply.text and cut > _done_at(events, message["id"])
        assert message["status"] == ("completed" if done else "incomplete")


def _done_at(events: list[dict[str, Any]], item_id: str) -> int:
    return next(
        k
        for k, e in enumerate(events)
        if e["type"] == "response.output_item.done" and e["item"]["id"] == item_id
    )


def test_a_response_that_ends_while_reasoning_sends_nothing_back():
    """The output cap can fall in the reasoning: that item has no following item to go with."""
    response = Response.model_validate(
        {
            "id": "resp_1",
            "object": "response",
            "created_at": 0,
            "model": "m",
            "status": "incomplete",
            "incomplete_details": {"reason": "max_output_tokens"},
            "output": [{"type": "reasoning", "id": "rs_1", "summary": []}],
            "parallel_tool_calls": True,
            "tool_choice": "auto",
            "tools": [],
        }
    )
    turn = turn_from_response(response, NAMES)
    assert turn.stop == "max_tokens"
    assert turn.provider_data["responses_items"] == []
