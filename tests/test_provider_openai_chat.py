"""The Chat Completions adapter through the real SDK client, on the SDK's own mock transport."""

from __future__ import annotations

import sys
from typing import Any

import pytest
from _mockapi import MockAPI
from _tools import play
from _vtime import vrun
from openai import AsyncOpenAI

from volley import Agent, ErrorKind, ToolReturns, tool
from volley.providers import ProviderError
from volley.providers.openai_chat import OpenAIChatProvider


@tool(effects="read")
async def get_weather(city: str) -> str:
    return f"Sunny in {city}"


def completion(
    content: str | None, calls: list[dict[str, Any]], finish: str, tokens: int = 10
) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if calls:
        message["tool_calls"] = calls
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 0,
        "model": "gpt-test",
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": {"prompt_tokens": tokens, "completion_tokens": 5, "total_tokens": tokens + 5},
    }


def call(call_id: str, name: str, arguments: str) -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


class Server(MockAPI):
    def provider(self) -> OpenAIChatProvider:
        client = AsyncOpenAI(
            api_key="test",
            base_url="http://openai.test/v1",
            max_retries=0,
            http_client=self.http_client(),
        )
        return OpenAIChatProvider("gpt-test", client=client)


def test_a_parallel_turn_is_answered_by_one_tool_message_per_call_in_order() -> None:
    server = Server(
        (
            200,
            completion(
                None,
                [
                    call("c1", "get_weather", '{"city": "Paris"}'),
                    call("c2", "spotify_play", '{"artist": "Muse"}'),
                    call("c3", "get_weather", '{"city": "Ber'),  # cut off mid-arguments
                    call("c4", "get_wether", '{"city": "Rome"}'),
                ],
                "tool_calls",
            ),
        ),
        (200, completion("Done.", [], "stop", tokens=40)),
    )
    agent = Agent(server.provider(), [get_weather, play], instructions="Be brief.", streaming=False)
    result = vrun(lambda: agent.run("go"))

    assert result.output == "Done."
    assert result.stats.calls_per_turn == [4, 0]
    assert result.stats.input_tokens == 50
    first, second = server.requests
    assert first["parallel_tool_calls"] is True
    assert first["messages"][0]["role"] == "system"
    assert [t["function"]["name"] for t in first["tools"]] == ["get_weather", "spotify_play"]
    assistant, *tools = second["messages"][2:]
    assert assistant["tool_calls"][2]["function"]["arguments"] == '{"city": "Ber'  # echoed as sent
    assert [m["role"] for m in tools] == ["tool"] * 4
    assert [m["tool_call_id"] for m in tools] == ["c1", "c2", "c3", "c4"]
    assert tools[0]["content"] == "Sunny in Paris"
    assert tools[1]["content"] == "playing Muse"
    assert "not valid JSON" in tools[2]["content"]
    assert "Unknown tool 'get_wether'" in tools[3]["content"]
    (returns,) = [m for m in result.messages if isinstance(m, ToolReturns)]
    kinds = [r.error_kind for r in returns.results]
    assert kinds == [None, None, ErrorKind.INVALID_ARGUMENTS, ErrorKind.UNKNOWN_TOOL]


def test_parallel_false_is_sent_to_the_server() -> None:
    server = Server((200, completion("Hi.", [], "stop")))
    vrun(lambda: Agent(server.provider(), [get_weather], parallel=False, streaming=False).run("hi"))
    assert server.requests[0]["parallel_tool_calls"] is False
    assert server.requests[0]["messages"] == [{"role": "user", "content": "hi"}]


def test_a_rejected_request_is_raised_with_the_request_that_caused_it() -> None:
    error = {"error": {"message": "bad", "type": "invalid_request_error", "param": None}}
    server = Server((400, error))
    with pytest.raises(ProviderError, match=r"rejected the request \(400\)") as caught:
        vrun(lambda: Agent(server.provider(), [get_weather], streaming=False).run("hi"))
    assert caught.value.request["messages"][-1] == {"role": "user", "content": "hi"}
    assert caught.value.request["tools"][0]["function"]["name"] == "get_weather"


def test_a_missing_sdk_is_one_line_naming_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "openai", None)
    with pytest.raises(ImportError, match=r"pip install 'volley-tools\[openai\]'"):
        OpenAIChatProvider("gpt-test")
