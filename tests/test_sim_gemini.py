"""The Gemini wire format: conversations, streams, validation and the official SDK."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx2
import pytest
from _hyp import examples
from google import genai
from google.genai import types
from hypothesis import given
from hypothesis import strategies as st

from tests._sim import (
    FINAL,
    SCENARIO,
    assemble_gemini,
    converse,
    gemini_path,
    gemini_tools,
)
from tests.test_sim_streams import info, replies, request
from volley.sim import Gemini, SimServer
from volley.sim._wire import output_tokens
from volley.sim.gemini import signature


async def run(*, stream: bool, ids: bool = False):
    async with (
        SimServer(SCENARIO, time_scale=0, formats=[Gemini(ids=ids)]) as sim,
        httpx2.AsyncClient(base_url=sim.base_url) as client,
    ):
        responses, answer = await converse(client, "gemini", stream=stream)
    return sim, responses, answer


def parts_of(response: dict[str, Any]) -> list[dict[str, Any]]:
    return response["candidates"][0]["content"]["parts"]


@pytest.mark.parametrize("ids", [False, True])
@pytest.mark.parametrize("stream", [False, True])
def test_parallel_turn_then_final_answer(stream, ids):
    sim, responses, answer = asyncio.run(run(stream=stream, ids=ids))
    parts = parts_of(responses[0])
    assert parts[0] == {"text": "Let me check three things."}
    calls = [p["functionCall"] for p in parts[1:]]
    assert [(c["name"], c["args"]) for c in calls] == [
        ("get_weather", {"city": "Paris"}),
        ("get_weather", {"city": "Berlin", "days": [1, 2]}),
        ("get_time", {"zone": "Europe/Rome"}),
    ]
    assert all(("id" in c) == ids for c in calls)
    assert ["thoughtSignature" in p for p in parts[1:]] == [True, False, False]
    assert responses[0]["candidates"][0]["finishReason"] == "STOP"  # no TOOL_CALLS in Gemini
    assert answer == FINAL
    assert [(r.format, r.stream, r.status, r.tool_calls, r.turn) for r in sim.log] == [
        ("gemini", stream, 200, 3, 0),
        ("gemini", stream, 200, 0, 2),
    ]


def test_streamed_and_plain_conversations_agree_and_calls_come_whole():
    _, plain, _ = asyncio.run(run(stream=False))
    _, streamed, _ = asyncio.run(run(stream=True))
    for a, b in zip(plain, streamed, strict=True):
        a.pop("responseId")
        b.pop("responseId")
        assert a == b


def test_token_counts_are_deterministic_and_input_grows():
    first, responses, _ = asyncio.run(run(stream=False))
    second, _, _ = asyncio.run(run(stream=True))
    figures = [(r.input_tokens, r.output_tokens) for r in first.log]
    assert figures == [(r.input_tokens, r.output_tokens) for r in second.log]
    assert figures[0][0] < figures[1][0]
    usage = [r["usageMetadata"] for r in responses]
    assert [(u["promptTokenCount"], u["candidatesTokenCount"]) for u in usage] == figures
    assert all(
        u["totalTokenCount"] == u["promptTokenCount"] + u["candidatesTokenCount"] for u in usage
    )


@examples(100)
@given(reply=replies, ids=st.booleans())
def test_stream_reassembles_to_the_response(reply, ids):
    wire = Gemini(ids=ids)
    events = list(wire.events(request(), reply, info(reply)))
    assembled = assemble_gemini(b"".join(e.encode() for e in events).decode())
    assert assembled == wire.response(request(), reply, info(reply))
    assert sum(e.tokens for e in events) == output_tokens(reply)
    calls = [e for e in events if "functionCall" in e.data]
    assert len(calls) == len(reply.calls)  # one whole call per chunk


SIGNED = signature([("get_weather", {}), ("get_time", {})])


def model(*names: str, signed: str | None = SIGNED, ids: bool = False) -> dict[str, Any]:
    parts: list[dict[str, Any]] = []
    for k, name in enumerate(names):
        call: dict[str, Any] = {"name": name, "args": {}}
        if ids:
            call["id"] = f"id{k}"
        parts.append({"functionCall": call})
    if signed is not None:
        parts[0]["thoughtSignature"] = signed
    return {"role": "model", "parts": parts}


def answers(*names: str, ids: tuple[str, ...] = ()) -> dict[str, Any]:
    parts = []
    for k, name in enumerate(names):
        response: dict[str, Any] = {"name": name, "response": {"output": "ok"}}
        if ids:
            response["id"] = ids[k]
        parts.append({"functionResponse": response})
    return {"role": "user", "parts": parts}


def body(*contents: dict[str, Any], **changes: Any) -> dict[str, Any]:
    user = {"role": "user", "parts": [{"text": "hi"}]}
    value: dict[str, Any] = {
        "tools": gemini_tools(),
        "contents": [user, *contents]
        if contents
        else [user, model("get_weather", "get_time"), answers("get_weather", "get_time")],
    }
    value.update(changes)
    return {k: v for k, v in value.items() if v is not None}


def declare(**declaration: Any) -> list[dict[str, Any]]:
    return [{"functionDeclarations": [declaration]}]


CASES = {
    "fewer responses than calls": (
        body(model("get_weather", "get_time"), answers("get_weather")),
        "number of function response parts",
    ),
    "calls end the conversation": (body(model("get_weather", "get_time")), "number of function"),
    "responses split over two contents": (
        body(model("get_weather", "get_time"), answers("get_weather"), answers("get_time")),
        "number of function response parts",
    ),
    "response names out of order": (
        body(model("get_weather", "get_time"), answers("get_time", "get_weather")),
        "does not match function call name",
    ),
    "response id mismatch": (
        body(
            model("get_weather", "get_time", ids=True),
            answers("get_weather", "get_time", ids=("id0", "id9")),
        ),
        "does not match function call id",
    ),
    "response without a call turn": (body(answers("get_weather")), "immediately after"),
    "missing thought signature": (
        body(model("get_weather", "get_time", signed=None), answers("get_weather", "get_time")),
        "missing a thought_signature",
    ),
    "altered thought signature": (
        body(model("get_weather", "get_time", signed="AAAA"), answers("get_weather", "get_time")),
        "Corrupted thought signature",
    ),
    "signature of other calls": (
        body(model("get_time", "get_weather"), answers("get_time", "get_weather")),
        "Corrupted thought signature",
    ),
    "bad role": (body({"role": "assistant", "parts": [{"text": "x"}]}), "valid role"),
    "empty parts": (body({"role": "user", "parts": []}), "must not be empty"),
    "no contents": (body(contents=None), "contents is not specified"),
    "dotted function name": (body(tools=declare(name="spotify.play")), "Invalid function name"),
    "name starting with a digit": (body(tools=declare(name="1tool")), "Invalid function name"),
    "name too long": (body(tools=declare(name="x" * 65)), "Invalid function name"),
    "duplicate function names": (body(tools=gemini_tools() * 2), "Duplicate function"),
    "two schemas": (
        body(tools=declare(name="t", parameters={}, parametersJsonSchema={})),
        "cannot both be set",
    ),
}


def send(
    sim: SimServer, payload: dict[str, Any], path: str = gemini_path(False)
) -> httpx2.Response:
    async def main() -> httpx2.Response:
        async with httpx2.AsyncClient(base_url=sim.base_url) as client:
            return await client.post(path, json=payload)

    return asyncio.run(main())


def test_valid_bodies_in_every_spelling_and_version(sim):
    snake = [{"function_declarations": [{"name": "t_1:x", "parameters_json_schema": {}}]}]
    camel = declare(name="_t-2", parameters={"type": "OBJECT"})
    for payload, path in [
        (body(), gemini_path(False)),
        (body(tools=snake), gemini_path(True, "v1beta")),
        (body(tools=camel), gemini_path(False, "v1beta")),
    ]:
        response = send(sim, payload, path)
        assert response.status_code == 200, response.text


@pytest.mark.parametrize("case", list(CASES))
def test_refusals(sim, case):
    payload, fragment = CASES[case]
    before = len(sim.log)
    response = send(sim, payload)
    assert response.status_code == 400
    data = response.json()
    assert set(data) == {"error"}
    assert set(data["error"]) == {"code", "message", "status"}
    assert (data["error"]["code"], data["error"]["status"]) == (400, "INVALID_ARGUMENT")
    assert fragment in data["error"]["message"]
    assert [(r.status, r.error) for r in sim.log[before:]] == [(400, data["error"]["message"])]


def test_unknown_version_or_method(sim):
    for path in ["/v2/models/sim:generateContent", "/v1/models/sim:countTokens"]:
        assert send(sim, body(), path).status_code == 400


def test_google_genai_sdk_generate_and_stream():
    async def main():
        async with SimServer(SCENARIO, time_scale=0) as sim:
            client = genai.Client(
                api_key="x", http_options=types.HttpOptions(base_url=sim.base_url)
            )
            declarations = [
                types.FunctionDeclaration(name=n, description="d", parameters_json_schema={})
                for n in ("get_weather", "get_time")
            ]
            config = types.GenerateContentConfig(
                tools=[types.Tool(function_declarations=declarations)],
                automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
            )
            contents = [types.Content(role="user", parts=[types.Part(text="weather?")])]
            try:
                plain = await client.aio.models.generate_content(
                    model="gemini-sim", contents=contents, config=config
                )
                chunks = [
                    c
                    async for c in await client.aio.models.generate_content_stream(
                        model="gemini-sim", contents=contents, config=config
                    )
                ]
                content = plain.candidates[0].content
                responses = [
                    types.Part(
                        function_response=types.FunctionResponse(
                            name=c.name, response={"output": f"{c.name} ok"}
                        )
                    )
                    for c in plain.function_calls
                ]
                final = await client.aio.models.generate_content(
                    model="gemini-sim",
                    contents=[*contents, content, types.Content(role="user", parts=responses)],
                    config=config,
                )
            finally:
                await client.aio.aclose()
            return plain, chunks, final, sim.log

    plain, chunks, final, log = asyncio.run(main())
    assert [c.name for c in plain.function_calls] == ["get_weather", "get_weather", "get_time"]
    assert plain.candidates[0].content.parts[1].thought_signature
    assert plain.usage_metadata.prompt_token_count == log[0].input_tokens
    streamed = [c for chunk in chunks for c in chunk.function_calls or []]
    assert [c.args for c in streamed] == [c.args for c in plain.function_calls]
    assert chunks[-1].usage_metadata.candidates_token_count == log[0].output_tokens
    assert (
        final.text == "Paris: get_weather ok; Berlin: get_weather ok; time: get_time ok (get_time)."
    )
