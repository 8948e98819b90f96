"""The Responses adapter through the real SDK client, on the SDK's own mock transport."""

from __future__ import annotations

from typing import Any

import pytest
from _mockapi import MockAPI
from _tools import play
from _vtime import vrun
from openai import AsyncOpenAI

from volley import Agent, tool
from volley.providers import ProviderError, resolve
from volley.providers.openai_responses import OpenAIResponsesProvider


@tool(effects="read")
async def get_weather(city: str) -> str:
    return f"Sunny in {city}"


def response(output: list[dict[str, Any]], tokens: int = 10) -> dict[str, Any]:
    return {
        "id": "resp_1",
        "object": "response",
        "created_at": 0,
        "model": "gpt-test",
        "status": "completed",
        "output": output,
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "usage": {
            "input_tokens": tokens,
            "output_tokens": 5,
            "total_tokens": tokens + 5,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens_details": {"reasoning_tokens": 0},
        },
    }


def function_call(item_id: str, call_id: str, name: str, arguments: str) -> dict[str, Any]:
    return {
        "type": "function_call",
        "id": item_id,
        "call_id": call_id,
        "name": name,
        "arguments": arguments,
        "status": "completed",
    }


REASONING = {"type": "reasoning", "id": "rs_1", "summary": []}


class Server(MockAPI):
    def provider(self) -> OpenAIResponsesProvider:
        client = AsyncOpenAI(
            api_key="test",
            base_url="http://openai.test/v1",
            max_retries=0,
            http_client=self.http_client(),
        )
        return OpenAIResponsesProvider("gpt-test", client=client)


def test_calls_are_echoed_with_their_outputs_in_order() -> None:
    server = Server(
        (
            200,
            response(
                [
                    REASONING,
                    function_call("fc_1", "call_1", "get_weather", '{"city": "Paris"}'),
                    function_call("fc_2", "call_2", "spotify_play", '{"artist": "Muse"}'),
                    function_call("fc_3", "call_3", "get_weather", "{oops"),
                ]
            ),
        ),
        (
            200,
            response(
                [
                    {
                        "type": "message",
                        "id": "msg_1",
                        "role": "assistant",
                        "status": "completed",
                        "content": [{"type": "output_text", "text": "Done.", "annotations": []}],
                    }
                ],
                tokens=40,
            ),
        ),
    )
    agent = Agent(server.provider(), [get_weather, play], instructions="Be brief.", streaming=False)
    result = vrun(lambda: agent.run("go"))

    assert result.output == "Done."
    assert result.stats.calls_per_turn == [3, 0]
    first, second = server.requests
    assert first["instructions"].startswith("Be brief.")
    assert first["parallel_tool_calls"] is True
    assert [t["name"] for t in first["tools"]] == ["get_weather", "spotify_play"]
    items = second["input"]
    assert items[0] == {"role": "user", "content": "go"}
    assert items[1]["type"] == "reasoning"
    calls = [i for i in items if i.get("type") == "function_call"]
    outputs = [i for i in items if i.get("type") == "function_call_output"]
    assert [c["call_id"] for c in calls] == ["call_1", "call_2", "call_3"]
    assert "parsed_arguments" not in calls[0]
    assert [o["call_id"] for o in outputs] == ["call_1", "call_2", "call_3"]
    assert outputs[0]["output"] == "Sunny in Paris"
    assert outputs[1]["output"] == "playing Muse"
    assert "not valid JSON" in outputs[2]["output"]


def test_parallel_false_and_rejections() -> None:
    server = Server(
        (400, {"error": {"message": "No tool output found", "type": "invalid_request_error"}})
    )
    with pytest.raises(ProviderError, match="No tool output found") as caught:
        vrun(
            lambda: Agent(server.provider(), [get_weather], parallel=False, streaming=False).run(
                "hi"
            )
        )
    assert caught.value.request["parallel_tool_calls"] is False


def test_the_model_string(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "test")
    adapter = resolve("openai-responses:gpt-5.4")
    assert isinstance(adapter, OpenAIResponsesProvider)
    assert adapter.name == "openai-responses:gpt-5.4"


def test_output_items_go_back_as_they_came() -> None:
    """A message keeps its id, status, phase, annotations and refusal; logprobs stay behind."""
    citation = {
        "type": "url_citation",
        "url": "https://example.com",
        "title": "Example",
        "start_index": 0,
        "end_index": 4,
    }
    message = {
        "type": "message",
        "id": "msg_1",
        "role": "assistant",
        "status": "completed",
        "phase": "commentary",
        "content": [
            {
                "type": "output_text",
                "text": "Let me look.",
                "annotations": [citation],
                "logprobs": [],
            },
            {"type": "refusal", "refusal": "Not that part."},
        ],
    }
    server = Server(
        (
            200,
            response(
                [
                    REASONING,
                    message,
                    function_call("fc_1", "call_1", "get_weather", '{"city": "Oslo"}'),
                ]
            ),
        ),
        (
            200,
            response(
                [
                    {
                        **message,
                        "id": "msg_2",
                        "phase": "final_answer",
                        "content": message["content"][:1],
                    }
                ]
            ),
        ),
    )
    agent = Agent(server.provider(), [get_weather], streaming=False)
    result = vrun(lambda: agent.run("go"))

    assert result.output == "Let me look."
    items = server.requests[1]["input"]
    assert items[1] == REASONING
    assert items[2] == {
        "type": "message",
        "id": "msg_1",
        "role": "assistant",
        "status": "completed",
        "phase": "commentary",
        "content": [
            {"type": "output_text", "text": "Let me look.", "annotations": [citation]},
            {"type": "refusal", "refusal": "Not that part."},
        ],
    }
    assert [i.get("type") for i in items[3:]] == ["function_call", "function_call_output"]
