"""The official SDKs read replies cut by the output cap, plain and streamed, in every format."""

from __future__ import annotations

import asyncio
from typing import Any

import anthropic
import openai
import pytest
from google import genai
from google.genai import types

from tests._sim import SCENARIO, TOOLS, openai_tools, responses_tools
from volley.sim import SimServer
from volley.sim._script import Reply, plan_reply
from volley.sim._truncate import truncate
from volley.sim._wire import output_tokens

# Through the official SDKs, on a live server: the first turn of SCENARIO needs 37 output tokens
# (text 6, then calls of 7, 15 and 9); the caps fall in the text, at its end, on a call's name,
# mid-arguments, between calls, mid-arguments again, one short and exactly at the whole reply.
CAPS = [3, 6, 7, 10, 13, 20, 36, 37]
ASK = [{"role": "user", "content": "Weather and time?"}]


def first_turn(id_prefix: str, cap: int, *, partial_calls: bool = True) -> Reply:
    reply = plan_reply(SCENARIO, (), max_calls=None, id_prefix=id_prefix)
    assert output_tokens(reply) == 37
    return truncate(reply, cap, partial_calls=partial_calls)


def serve(client_for: Any, exchange: Any, caps: list[int]) -> tuple[list[Any], list[Any]]:
    """Run ``exchange(client, cap)`` for each cap against one server; (results, request log)."""

    async def main() -> tuple[list[Any], list[Any]]:
        async with SimServer(SCENARIO, time_scale=0) as sim:
            client, close = client_for(sim)
            try:
                return [await exchange(client, cap) for cap in caps], sim.log
            finally:
                await close()

    return asyncio.run(main())


def block(b: Any) -> tuple[Any, ...]:
    return b.type, getattr(b, "text", None), getattr(b, "id", None), getattr(b, "input", None)


def test_anthropic_sdk_reads_cut_messages():
    def client_for(sim):
        client = anthropic.AsyncAnthropic(base_url=sim.base_url, api_key="x", max_retries=0)
        return client, client.close

    async def exchange(client, cap):
        kwargs = {"model": "sim", "max_tokens": cap, "messages": ASK, "tools": TOOLS}
        plain = await client.messages.create(**kwargs)
        async with client.messages.stream(**kwargs) as stream:
            return plain, await stream.get_final_message()

    results, log = serve(client_for, exchange, CAPS)
    for cap, (plain, streamed) in zip(CAPS, results, strict=True):
        expected = first_turn("toolu_", cap)
        assert (
            plain.stop_reason == streamed.stop_reason == ("max_tokens" if cap < 37 else "tool_use")
        )
        uses = [(b.id, b.input) for b in plain.content if b.type == "tool_use"]
        assert uses == [(c.id, c.arguments) for c in expected.calls]
        assert [block(b) for b in streamed.content[: len(plain.content)]] == [
            block(b) for b in plain.content
        ]
        extra = streamed.content[len(plain.content) :]  # the cut call, its input parsed partially
        cut = expected.cut_call
        assert [(b.type, b.id) for b in extra] == ([("tool_use", cut.id)] if cut else [])
        assert plain.usage.output_tokens == streamed.usage.output_tokens == output_tokens(expected)
    assert [(r.truncated, r.tool_calls) for r in log[::2]] == [
        (cap < 37, len(first_turn("toolu_", cap).calls)) for cap in CAPS
    ]


def test_openai_chat_sdk_reads_cut_completions():
    def client_for(sim):
        client = openai.AsyncOpenAI(base_url=sim.base_url + "/v1", api_key="x", max_retries=0)
        return client, client.close

    async def exchange(client, cap):
        kwargs = {"model": "sim", "messages": ASK, "tools": openai_tools()}
        plain = await client.chat.completions.create(**kwargs, max_completion_tokens=cap)
        stream = await client.chat.completions.create(
            **kwargs, max_tokens=cap, stream=True, stream_options={"include_usage": True}
        )
        return plain, [chunk async for chunk in stream]

    results, _ = serve(client_for, exchange, CAPS)
    for cap, (plain, chunks) in zip(CAPS, results, strict=True):
        expected = first_turn("call_", cap)
        arguments = [c.arguments_json for c in expected.calls]
        arguments += [expected.cut_call.arguments_json] if expected.cut_call else []
        choice = plain.choices[0]
        assert choice.finish_reason == ("length" if cap < 37 else "tool_calls")
        assert [c.function.arguments for c in choice.message.tool_calls or []] == arguments
        streamed: dict[int, str] = {}
        for chunk in chunks[:-1]:
            for part in chunk.choices[0].delta.tool_calls or []:
                streamed[part.index] = streamed.get(part.index, "") + part.function.arguments
        assert [streamed[k] for k in sorted(streamed)] == arguments
        assert chunks[-2].choices[0].finish_reason == choice.finish_reason
        assert chunks[-1].usage.completion_tokens == plain.usage.completion_tokens <= cap


def test_openai_chat_sdk_stream_helper_refuses_a_cut_completion():
    """The SDK's own reaction to ``length``, as it has with the real API."""

    def client_for(sim):
        client = openai.AsyncOpenAI(base_url=sim.base_url + "/v1", api_key="x", max_retries=0)
        return client, client.close

    async def exchange(client, cap):
        kwargs = {"model": "sim", "messages": ASK, "tools": openai_tools()}
        async with client.chat.completions.stream(**kwargs, max_completion_tokens=cap) as helper:
            async for _ in helper:
                pass
            with pytest.raises(openai.LengthFinishReasonError):
                await helper.get_final_completion()

    serve(client_for, exchange, [12])


def test_openai_responses_sdk_reads_incomplete_responses():
    caps = [cap for cap in CAPS if cap >= 16]  # the API's minimum

    def client_for(sim):
        client = openai.AsyncOpenAI(base_url=sim.base_url + "/v1", api_key="x", max_retries=0)
        return client, client.close

    async def exchange(client, cap):
        kwargs = {"model": "sim", "input": ASK, "tools": responses_tools()}
        plain = await client.responses.create(**kwargs, max_output_tokens=cap)
        stream = await client.responses.create(**kwargs, max_output_tokens=cap, stream=True)
        return plain, [event async for event in stream]

    results, _ = serve(client_for, exchange, caps)
    for cap, (plain, events) in zip(caps, results, strict=True):
        expected = first_turn("call_", cap)
        status = "incomplete" if cap < 37 else "completed"
        assert events[-1].type == f"response.{status}"
        final = events[-1].response
        for response in (plain, final):
            assert response.status == status
            assert response.usage.output_tokens == output_tokens(expected)
            calls = [(i.status, i.arguments) for i in response.output if i.type == "function_call"]
            assert calls == [("completed", c.arguments_json) for c in expected.calls] + (
                [("incomplete", expected.cut_call.arguments_json)] if expected.cut_call else []
            )
        assert (plain.incomplete_details is None) == (cap == 37)
        done = [e.item for e in events if e.type == "response.output_item.done"]
        assert [i.call_id for i in done if i.type == "function_call"] == [
            c.id for c in expected.calls
        ]  # the cut call never gets its done event


def test_google_genai_sdk_reads_max_tokens_responses():
    def client_for(sim):
        client = genai.Client(api_key="x", http_options=types.HttpOptions(base_url=sim.base_url))
        return client, client.aio.aclose

    async def exchange(client, cap):
        declarations = [
            types.FunctionDeclaration(name=n, description="d", parameters_json_schema={})
            for n in ("get_weather", "get_time")
        ]
        config = types.GenerateContentConfig(
            tools=[types.Tool(function_declarations=declarations)],
            automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
            max_output_tokens=cap,
        )
        kwargs = {"model": "gemini-sim", "contents": "Weather?", "config": config}
        plain = await client.aio.models.generate_content(**kwargs)
        chunks = [c async for c in await client.aio.models.generate_content_stream(**kwargs)]
        return plain, chunks

    results, log = serve(client_for, exchange, CAPS)
    for cap, (plain, chunks) in zip(CAPS, results, strict=True):
        expected = first_turn("", cap, partial_calls=False)
        reason = types.FinishReason.MAX_TOKENS if cap < 37 else types.FinishReason.STOP
        assert plain.candidates[0].finish_reason == chunks[-1].candidates[0].finish_reason == reason
        calls = [(c.name, c.args) for c in plain.function_calls or []]
        assert calls == [(c.name, c.arguments) for c in expected.calls]
        streamed = [(c.name, c.args) for chunk in chunks for c in chunk.function_calls or []]
        assert streamed == calls
        tokens = plain.usage_metadata.candidates_token_count
        assert tokens == chunks[-1].usage_metadata.candidates_token_count == output_tokens(expected)
    assert [r.output_tokens for r in log[::2]] == [
        output_tokens(first_turn("", cap, partial_calls=False)) for cap in CAPS
    ]
