"""The official SDKs parse the simulator's answers, plain and streamed, without any adapter."""

from __future__ import annotations

import asyncio
import json

import pytest

from tests._sim import FINAL, SCENARIO, TOOLS, openai_tools
from volley.sim import SimServer

anthropic = pytest.importorskip("anthropic")
openai = pytest.importorskip("openai")


def summary(block):
    return block.type, getattr(block, "text", None), getattr(block, "id", None), block.to_dict()


def answer(name, arguments):
    return " ".join([name, *(str(v) for k, v in arguments.items() if k != "days")])


def test_anthropic_sdk_create_and_stream():
    async def main():
        async with SimServer(SCENARIO, time_scale=0) as sim:
            client = anthropic.AsyncAnthropic(base_url=sim.base_url, api_key="x", max_retries=0)
            messages = [{"role": "user", "content": "weather?"}]
            first = await client.messages.create(
                model="sim", max_tokens=100, messages=messages, tools=TOOLS
            )
            async with client.messages.stream(
                model="sim", max_tokens=100, messages=messages, tools=TOOLS
            ) as stream:
                kinds = [event.type async for event in stream]
                streamed = await stream.get_final_message()
            results = [
                {"type": "tool_result", "tool_use_id": b.id, "content": answer(b.name, b.input)}
                for b in first.content
                if b.type == "tool_use"
            ]
            messages += [
                {"role": "assistant", "content": [b.model_dump() for b in first.content]},
                {"role": "user", "content": results},
            ]
            final = await client.messages.create(
                model="sim", max_tokens=100, messages=messages, tools=TOOLS
            )
            await client.close()
            return first, streamed, kinds, final

    first, streamed, kinds, final = asyncio.run(main())
    assert first.stop_reason == "tool_use"
    assert [b.type for b in first.content] == ["text", "tool_use", "tool_use", "tool_use"]
    assert [summary(b) for b in streamed.content] == [summary(b) for b in first.content]
    assert streamed.usage.output_tokens == first.usage.output_tokens
    assert "input_json" in kinds
    assert final.content[0].text == FINAL


@pytest.mark.parametrize("parallel", [True, False])
def test_openai_sdk_create_and_stream(parallel):
    async def main():
        async with SimServer(SCENARIO, time_scale=0) as sim:
            client = openai.AsyncOpenAI(base_url=sim.base_url + "/v1", api_key="x", max_retries=0)
            kwargs = {
                "model": "sim",
                "messages": [{"role": "user", "content": "weather?"}],
                "tools": openai_tools(),
                "parallel_tool_calls": parallel,
            }
            plain = await client.chat.completions.create(**kwargs)
            stream = await client.chat.completions.create(
                **kwargs, stream=True, stream_options={"include_usage": True}
            )
            chunks = [chunk async for chunk in stream]
            async with client.chat.completions.stream(**kwargs) as helper:
                async for _ in helper:
                    pass
                helped = await helper.get_final_completion()
            await client.close()
            return plain, chunks, helped

    plain, chunks, helped = asyncio.run(main())
    calls = plain.choices[0].message.tool_calls
    assert len(calls) == (3 if parallel else 1)
    assert plain.choices[0].finish_reason == "tool_calls"
    assert json.loads(calls[0].function.arguments) == {"city": "Paris"}
    arguments: dict[int, str] = {}
    for chunk in chunks:
        for part in chunk.choices[0].delta.tool_calls or [] if chunk.choices else []:
            arguments[part.index] = arguments.get(part.index, "") + (part.function.arguments or "")
    assert [arguments[i] for i in sorted(arguments)] == [c.function.arguments for c in calls]
    assert chunks[-1].usage.prompt_tokens == plain.usage.prompt_tokens
    assert [c.function.arguments for c in helped.choices[0].message.tool_calls] == [
        c.function.arguments for c in calls
    ]
