"""The Anthropic adapter through the real SDK client, on the SDK's own mock transport."""

from __future__ import annotations

import sys
from typing import Any

import pytest
from _mockapi import MockAPI
from _tools import play
from _vtime import vrun
from anthropic import AsyncAnthropic

from volley import Agent, ToolCall, tool
from volley.providers import ProviderError
from volley.providers.anthropic import AnthropicProvider


@tool(effects="read")
async def get_weather(city: str) -> str:
    return f"Sunny in {city}"


@tool(effects="read")
async def get_time(city: str) -> str:
    raise ConnectionError("time service down")


def message(content: list[dict[str, Any]], stop: str, tokens: int = 10) -> dict[str, Any]:
    return {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude-test",
        "content": content,
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": {"input_tokens": tokens, "output_tokens": 5},
    }


def use(call_id: str, name: str, **arguments: Any) -> dict[str, Any]:
    return {"type": "tool_use", "id": call_id, "name": name, "input": arguments}


class Server(MockAPI):
    def provider(self) -> AnthropicProvider:
        client = AsyncAnthropic(
            api_key="test",
            base_url="http://anthropic.test",
            max_retries=0,
            http_client=self.http_client(),
        )
        return AnthropicProvider("claude-test", client=client)


def test_a_parallel_turn_is_answered_in_one_message_results_first_errors_flagged() -> None:
    server = Server(
        (
            200,
            message(
                [
                    {"type": "text", "text": "Let me check."},
                    use("t1", "get_weather", city="Paris"),
                    use("t2", "get_time", city="Tokyo"),
                    use("t3", "spotify_play", artist="Muse"),
                ],
                "tool_use",
            ),
        ),
        (200, message([{"type": "text", "text": "Done."}], "end_turn", tokens=40)),
    )
    agent = Agent(
        server.provider(), [get_weather, get_time, play], instructions="Be brief.", streaming=False
    )
    result = vrun(lambda: agent.run("Weather in Paris, time in Tokyo, and play Muse"))

    assert result.output == "Done."
    assert result.stats.round_trips == 2
    assert result.stats.input_tokens == 50
    first, second = server.requests
    assert [t["name"] for t in first["tools"]] == ["get_weather", "get_time", "spotify_play"]
    assert first["tools"][2]["input_schema"]["properties"]["artist"] == {"type": "string"}
    assert first["tool_choice"] == {"type": "auto", "disable_parallel_tool_use": False}
    assert first["system"].startswith("Be brief.")
    assistant, results = second["messages"][1:]
    assert assistant["role"] == "assistant"
    assert [b["type"] for b in assistant["content"]] == ["text", "tool_use", "tool_use", "tool_use"]
    assert results["role"] == "user"
    assert [b["tool_use_id"] for b in results["content"]] == ["t1", "t2", "t3"]
    assert [b.get("is_error", False) for b in results["content"]] == [False, True, False]
    assert results["content"][0]["content"] == "Sunny in Paris"
    assert "ConnectionError: time service down" in results["content"][1]["content"]
    assert results["content"][2]["content"] == "playing Muse"  # the dotted tool ran by its name


def test_parallel_false_asks_for_one_call_at_a_time() -> None:
    server = Server((200, message([{"type": "text", "text": "Hi."}], "end_turn")))
    vrun(lambda: Agent(server.provider(), [get_weather], parallel=False, streaming=False).run("hi"))
    assert server.requests[0]["tool_choice"]["disable_parallel_tool_use"] is True
    assert "system" not in server.requests[0]  # no hint when parallel calls are off


def test_a_rejected_request_is_raised_with_the_request_that_caused_it() -> None:
    error = {"type": "error", "error": {"type": "invalid_request_error", "message": "bad ids"}}
    server = Server((400, error))
    with pytest.raises(ProviderError, match="rejected the request \\(400\\)") as caught:
        vrun(lambda: Agent(server.provider(), [get_weather], streaming=False).run("hi"))
    assert caught.value.status == 400
    assert caught.value.request["messages"] == [{"role": "user", "content": "hi"}]


def test_a_turn_the_adapter_did_not_receive_is_sent_from_its_neutral_form() -> None:
    from volley import ModelTurn, ToolResult, ToolReturns, UserPrompt
    from volley.providers import ModelRequest

    server = Server((200, message([{"type": "text", "text": "ok"}], "end_turn")))
    history = [
        UserPrompt("play Muse"),
        ModelTurn(calls=(ToolCall("x1", "spotify.play", {"artist": "Muse"}),), stop="tool_calls"),
        ToolReturns((ToolResult("x1", "spotify.play", "playing Muse"),)),
    ]
    request = ModelRequest(messages=history, tools=[play])
    turn = vrun(lambda: server.provider().complete(request))
    assert turn.text == "ok"
    sent = server.requests[0]["messages"]
    assert sent[1]["content"] == [
        {"type": "tool_use", "id": "x1", "name": "spotify_play", "input": {"artist": "Muse"}}
    ]


def test_a_missing_sdk_is_one_line_naming_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "anthropic", None)
    with pytest.raises(ImportError, match=r"pip install 'volley-tools\[anthropic\]'"):
        AnthropicProvider("claude-test")


def test_overload_and_server_errors_are_retried_by_the_sdk() -> None:
    overloaded = {"type": "error", "error": {"type": "overloaded_error", "message": "busy"}}
    server = Server(
        (529, overloaded),
        (500, overloaded),
        (200, message([{"type": "text", "text": "Hi."}], "end_turn")),
    )
    client = AsyncAnthropic(
        api_key="test",
        base_url="http://anthropic.test",
        max_retries=2,
        http_client=server.http_client(),
    )
    agent = Agent(AnthropicProvider("claude-test", client=client), [get_weather], streaming=False)
    assert vrun(lambda: agent.run("hi")).output == "Hi."
    assert len(server.requests) == 3
