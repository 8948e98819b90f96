"""The OpenAI Responses wire format: conversations, streams, validation and the official SDK."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx2
import pytest
from _hyp import examples
from hypothesis import given
from openai import AsyncOpenAI

from tests._sim import (
    FINAL,
    SCENARIO,
    assemble_responses,
    converse,
    responses_tools,
)
from tests.test_sim_streams import info, replies, request
from volley.sim import OpenAIResponses, SimServer
from volley.sim._wire import output_tokens


async def run(*, stream: bool, parallel: bool = True):
    async with (
        SimServer(SCENARIO, time_scale=0) as sim,
        httpx2.AsyncClient(base_url=sim.base_url) as client,
    ):
        responses, answer = await converse(
            client, "openai_responses", stream=stream, parallel=parallel
        )
    return sim, responses, answer


def calls_of(response: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (i["name"], json.loads(i["arguments"]))
        for i in response["output"]
        if i["type"] == "function_call"
    ]


@pytest.mark.parametrize("stream", [False, True])
def test_parallel_turn_then_final_answer(stream):
    sim, responses, answer = asyncio.run(run(stream=stream))
    assert calls_of(responses[0]) == [
        ("get_weather", {"city": "Paris"}),
        ("get_weather", {"city": "Berlin", "days": [1, 2]}),
        ("get_time", {"zone": "Europe/Rome"}),
    ]
    first = responses[0]["output"]
    assert [i["type"] for i in first] == [
        "message",
        "function_call",
        "function_call",
        "function_call",
    ]
    assert all(i["id"].startswith("fc_") and i["call_id"].startswith("call_") for i in first[1:])
    assert first[0]["content"] == [
        {"type": "output_text", "annotations": [], "text": "Let me check three things."}
    ]
    assert answer == FINAL
    assert [(r.format, r.stream, r.status, r.tool_calls, r.turn) for r in sim.log] == [
        ("openai_responses", stream, 200, 3, 0),
        ("openai_responses", stream, 200, 0, 2),
    ]


@pytest.mark.parametrize("stream", [False, True])
def test_parallel_tool_calls_false_gives_one_call_per_round_trip(stream):
    sim, responses, answer = asyncio.run(run(stream=stream, parallel=False))
    assert [len(calls_of(r)) for r in responses] == [1, 1, 1, 0]
    assert len(sim.log) == 4
    assert answer == FINAL


def test_streamed_and_plain_conversations_agree():
    _, plain, _ = asyncio.run(run(stream=False))
    _, streamed, _ = asyncio.run(run(stream=True))
    for a, b in zip(plain, streamed, strict=True):
        for key in ("id", "created_at"):
            a.pop(key)
            b.pop(key)
        for item in a["output"] + b["output"]:
            if item["type"] == "message":
                item.pop("id")  # derived from the response id
        assert a == b


def test_token_counts_are_deterministic_and_input_grows():
    first, responses, _ = asyncio.run(run(stream=False, parallel=False))
    second, _, _ = asyncio.run(run(stream=True, parallel=False))
    figures = [(r.input_tokens, r.output_tokens) for r in first.log]
    assert figures == [(r.input_tokens, r.output_tokens) for r in second.log]
    inputs = [i for i, _ in figures]
    assert inputs == sorted(set(inputs)), inputs
    usage = [r["usage"] for r in responses]
    assert [(u["input_tokens"], u["output_tokens"]) for u in usage] == figures
    assert all(u["total_tokens"] == u["input_tokens"] + u["output_tokens"] for u in usage)
    assert all(u["input_tokens_details"]["cached_tokens"] == 0 for u in usage)
    assert all(u["output_tokens_details"]["reasoning_tokens"] == 0 for u in usage)


@examples(100)
@given(reply=replies)
def test_stream_reassembles_to_the_response(reply):
    wire = OpenAIResponses()
    events = list(wire.events(request(), reply, info(reply)))
    assembled = assemble_responses(b"".join(e.encode() for e in events).decode())
    assert assembled == wire.response(request(), reply, info(reply))
    assert sum(e.tokens for e in events) == output_tokens(reply)


CALL = {
    "type": "function_call",
    "id": "fc_1",
    "call_id": "call_1",
    "name": "get_weather",
    "arguments": "{}",
}
CALL2 = {**CALL, "id": "fc_2", "call_id": "call_2", "name": "get_time"}


def output(call_id: str, text: str = "ok") -> dict[str, Any]:
    return {"type": "function_call_output", "call_id": call_id, "output": text}


def body(*items: dict[str, Any], **changes: Any) -> dict[str, Any]:
    user = {"role": "user", "content": "hi"}
    value: dict[str, Any] = {
        "model": "m",
        "tools": responses_tools(),
        "input": [user, *items]
        if items
        else [user, CALL, CALL2, output("call_1"), output("call_2")],
    }
    value.update(changes)
    return {k: v for k, v in value.items() if v is not None}


CASES = {
    "call without output": (
        body(CALL, CALL2, output("call_1")),
        "No tool output found for function call call_2",
    ),
    "output without call": (
        body(CALL, output("call_1"), output("call_9")),
        "No tool call found for function call output with call_id call_9",
    ),
    "output before its call": (body(output("call_1"), CALL), "No tool call found"),
    "duplicate output": (
        body(CALL, output("call_1"), output("call_1")),
        "Duplicate function call output",
    ),
    "duplicate call": (body(CALL, CALL, output("call_1")), "Duplicate function call"),
    "dotted tool name": (
        body(tools=[{"type": "function", "name": "spotify.play", "parameters": {}}]),
        "does not match pattern",
    ),
    "tool name too long": (
        body(tools=[{"type": "function", "name": "x" * 65, "parameters": {}}]),
        "string too long",
    ),
    "chat-style nested tool": (
        body(tools=[{"type": "function", "function": {"name": "t", "parameters": {}}}]),
        "tools[0].name",
    ),
    "missing parameters": (body(tools=[{"type": "function", "name": "t"}]), "tools[0].parameters"),
    "not a function tool": (body(tools=[{"type": "magic"}]), "tools[0].type"),
    "duplicate tool names": (body(tools=responses_tools() * 2), "Duplicate tool name"),
    "unknown role": (body({"role": "robot", "content": "x"}), "'robot'"),
    "unknown item type": (body({"type": "magic"}), "input[1].type"),
    "missing model": (body(model=None), "model"),
    "missing input": (body(input=None), "input"),
    "previous_response_id": (body(previous_response_id="resp_1"), "not found"),
    "bad parallel_tool_calls": (body(parallel_tool_calls="no"), "parallel_tool_calls"),
}


def send(sim: SimServer, payload: dict[str, Any]) -> httpx2.Response:
    async def main() -> httpx2.Response:
        async with httpx2.AsyncClient(base_url=sim.base_url) as client:
            return await client.post("/v1/responses", json=payload)

    return asyncio.run(main())


def test_the_valid_body_and_a_string_input_are_valid(sim):
    for payload in (body(), body(input="hi")):
        response = send(sim, payload)
        assert response.status_code == 200, response.text


@pytest.mark.parametrize("case", list(CASES))
def test_refusals(sim, case):
    payload, fragment = CASES[case]
    before = len(sim.log)
    response = send(sim, payload)
    assert response.status_code == 400
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "invalid_request_error"
    assert fragment in error["message"] or fragment in (error["param"] or "")
    assert [(r.status, r.error) for r in sim.log[before:]] == [(400, error["message"])]


@pytest.mark.parametrize("parallel", [True, False])
def test_openai_sdk_create_and_stream(parallel):
    async def main():
        async with SimServer(SCENARIO, time_scale=0) as sim:
            client = AsyncOpenAI(base_url=sim.base_url + "/v1", api_key="x", max_retries=0)
            kwargs: dict[str, Any] = {
                "model": "sim",
                "input": "weather?",
                "tools": responses_tools(),
                "parallel_tool_calls": parallel,
            }
            try:
                plain = await client.responses.create(**kwargs)
                raw = [e async for e in await client.responses.create(**kwargs, stream=True)]
                async with client.responses.stream(**kwargs) as helper:
                    kinds = [event.type async for event in helper]
                    helped = await helper.get_final_response()
                items = [*plain.output]
                follow = [
                    {"type": "function_call_output", "call_id": i.call_id, "output": "done"}
                    for i in items
                    if i.type == "function_call"
                ]
                echoed = [i.model_dump(exclude_none=True) for i in items]
                rest = await client.responses.create(
                    **{
                        **kwargs,
                        "input": [{"role": "user", "content": "weather?"}, *echoed, *follow],
                    }
                )
            finally:
                await client.close()
            return plain, raw, kinds, helped, rest

    plain, raw, kinds, helped, rest = asyncio.run(main())
    calls = [i for i in plain.output if i.type == "function_call"]
    assert len(calls) == (3 if parallel else 1)
    assert json.loads(calls[0].arguments) == {"city": "Paris"}
    assert plain.output_text == "Let me check three things."
    assert plain.usage.total_tokens == plain.usage.input_tokens + plain.usage.output_tokens
    assert raw[-1].type == "response.completed"
    assert raw[-1].response.usage.output_tokens == plain.usage.output_tokens
    assert "response.function_call_arguments.delta" in kinds
    assert helped.output_text == plain.output_text
    assert [(i.id, i.call_id, i.name, i.arguments) for i in helped.output[1:]] == [
        (i.id, i.call_id, i.name, i.arguments) for i in calls
    ]
    if parallel:
        assert rest.output_text.startswith("Paris: done; Berlin: done")
    else:
        assert [i.type for i in rest.output] == ["function_call"]
