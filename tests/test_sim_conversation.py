"""Whole scripted conversations against a real SimServer on loopback, in both wire formats."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx2
import pytest

from tests._sim import FINAL, SCENARIO, assemble_openai, converse, post
from volley.sim import SimServer, parse_scenario

FORMATS = ["anthropic", "openai_chat"]


async def run(fmt: str, *, stream: bool, parallel: bool = True, **options: Any):
    async with (
        SimServer(SCENARIO, time_scale=0, **options) as sim,
        httpx2.AsyncClient(base_url=sim.base_url) as client,
    ):
        responses, answer = await converse(client, fmt, stream=stream, parallel=parallel)
    return sim, responses, answer


def calls_of(fmt: str, response: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    if fmt == "anthropic":
        return [(b["name"], b["input"]) for b in response["content"] if b["type"] == "tool_use"]
    calls = response["choices"][0]["message"].get("tool_calls", [])
    return [(c["function"]["name"], json.loads(c["function"]["arguments"])) for c in calls]


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("fmt", FORMATS)
def test_parallel_turn_then_final_answer(fmt, stream):
    sim, responses, answer = asyncio.run(run(fmt, stream=stream))
    assert len(responses) == 2
    assert calls_of(fmt, responses[0]) == [
        ("get_weather", {"city": "Paris"}),
        ("get_weather", {"city": "Berlin", "days": [1, 2]}),
        ("get_time", {"zone": "Europe/Rome"}),
    ]
    assert answer == FINAL
    assert [(r.format, r.stream, r.status, r.tool_calls, r.turn) for r in sim.log] == [
        (fmt, stream, 200, 3, 0),
        (fmt, stream, 200, 0, 2),
    ]


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("fmt", FORMATS)
def test_sequential_switch_gives_one_call_per_round_trip(fmt, stream):
    sim, responses, answer = asyncio.run(run(fmt, stream=stream, parallel=False))
    assert [len(calls_of(fmt, r)) for r in responses] == [1, 1, 1, 0]
    assert len(sim.log) == 4  # vs 2 in parallel
    flat = [c for r in responses for c in calls_of(fmt, r)]
    assert [name for name, _ in flat] == ["get_weather", "get_weather", "get_time"]
    assert answer == FINAL  # the final turn still sees all three results, in call order


@pytest.mark.parametrize("fmt", FORMATS)
def test_streamed_and_plain_conversations_agree(fmt):
    _, plain, _ = asyncio.run(run(fmt, stream=False))
    _, streamed, _ = asyncio.run(run(fmt, stream=True))
    for a, b in zip(plain, streamed, strict=True):
        for key in ("id", "created"):
            a.pop(key, None)
            b.pop(key, None)
        if fmt == "openai_chat":
            a.pop("usage")  # a stream sends usage only when asked (stream_options)
        assert a == b


@pytest.mark.parametrize("fmt", FORMATS)
def test_token_counts_are_deterministic_and_input_grows(fmt):
    first, responses, _ = asyncio.run(run(fmt, stream=False, parallel=False))
    second, _, _ = asyncio.run(run(fmt, stream=True, parallel=False))
    figures = [(r.input_tokens, r.output_tokens) for r in first.log]
    assert figures == [(r.input_tokens, r.output_tokens) for r in second.log]
    inputs = [i for i, _ in figures]
    assert inputs == sorted(set(inputs)), inputs  # strictly growing
    assert all(o > 0 for _, o in figures)
    usage = [r["usage"] for r in responses]
    if fmt == "anthropic":
        assert [(u["input_tokens"], u["output_tokens"]) for u in usage] == figures
    else:
        assert [(u["prompt_tokens"], u["completion_tokens"]) for u in usage] == figures
        assert all(u["total_tokens"] == u["prompt_tokens"] + u["completion_tokens"] for u in usage)


def test_ollama_style_stream_puts_every_call_at_index_zero():
    async def main():
        async with (
            SimServer(SCENARIO, time_scale=0, ollama=True) as sim,
            httpx2.AsyncClient(base_url=sim.base_url) as client,
        ):
            body = {
                "model": "sim",
                "stream": True,
                "messages": [{"role": "user", "content": "hi"}],
            }
            raw = await client.post("/v1/chat/completions", json=body)
            plain = await post(client, "openai_chat", {**body, "stream": False})
        return raw.text, plain

    text, plain = asyncio.run(main())
    assembled = assemble_openai(text, ollama=True)
    want = plain["choices"][0]["message"]["tool_calls"]
    assert assembled["choices"][0]["message"]["tool_calls"] == want
    assert len(want) == 3


def test_include_usage_adds_a_usage_chunk_before_done():
    async def main():
        async with (
            SimServer(SCENARIO, time_scale=0) as sim,
            httpx2.AsyncClient(base_url=sim.base_url) as client,
        ):
            body = {
                "model": "sim",
                "stream": True,
                "stream_options": {"include_usage": True},
                "messages": [{"role": "user", "content": "hi"}],
            }
            return (await client.post("/v1/chat/completions", json=body)).text, sim.log[0]

    text, record = asyncio.run(main())
    usage = assemble_openai(text)["usage"]
    assert usage == {
        "prompt_tokens": record.input_tokens,
        "completion_tokens": record.output_tokens,
        "total_tokens": record.input_tokens + record.output_tokens,
    }


def test_asgi_app_in_process_and_error_branch():
    scenario = parse_scenario(
        json.dumps(
            {
                "turns": [
                    {"calls": [{"name": "a"}, {"name": "b"}]},
                    {"when": "any_error", "text": "{error_count} failed: {result[1]}"},
                    {"text": "all fine"},
                ]
            }
        )
    )
    sim = SimServer(scenario, time_scale=0)

    async def main():
        transport = httpx2.ASGITransport(app=sim.app)
        async with httpx2.AsyncClient(transport=transport, base_url="http://sim") as client:
            body: dict[str, Any] = {"model": "m", "max_tokens": 10}
            messages: list[dict[str, Any]] = [{"role": "user", "content": "go"}]
            first = await post(client, "anthropic", {**body, "messages": messages})
            ids = [b["id"] for b in first["content"]]
            messages += [
                {"role": "assistant", "content": first["content"]},
                {
                    "role": "user",
                    "content": [
                        {"type": "tool_result", "tool_use_id": ids[0], "content": "ok"},
                        {
                            "type": "tool_result",
                            "tool_use_id": ids[1],
                            "content": [{"type": "text", "text": "boom"}],
                            "is_error": True,
                        },
                        {"type": "text", "text": "results above"},
                    ],
                },
            ]
            second = await post(client, "anthropic", {**body, "messages": messages})
            messages += [
                {"role": "assistant", "content": second["content"]},
                {"role": "user", "content": "and now?"},
            ]
            third = await post(client, "anthropic", {**body, "messages": messages})
            return second, third

    second, third = asyncio.run(main())
    assert second["content"] == [{"type": "text", "text": "1 failed: boom"}]
    # a new user message goes on with the next turn that applies: "all fine" (no results, no error)
    assert third["content"] == [{"type": "text", "text": "all fine"}]
    assert [r.turn for r in sim.log] == [0, 1, 2]
