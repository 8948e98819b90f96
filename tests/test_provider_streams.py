"""Adapters' streamed round trips through the real SDKs against the simulated provider."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from _adapters import ADAPTERS, close, gemini, openai_responses
from _tools import play

from volley import ModelTurn, ToolCall, ToolResult, ToolReturns, UserPrompt, tool
from volley.providers import ModelRequest, ProviderError
from volley.providers.streams import CallComplete, ModelStream, StreamError, TextDelta
from volley.sim import SimServer, parse_scenario


@tool(effects="read")
async def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"sunny in {city}"


SCRIPT = json.dumps(
    {
        "turns": [
            {
                "text": "Looking.",
                "calls": [
                    {"name": "get_weather", "arguments": {"city": "Paris"}},
                    {"name": "spotify_play", "arguments": {"artist": "Muse"}},
                    {"name": "get_weather", "arguments": {"city": "Oslo"}},
                ],
            },
            {"text": "Done."},
        ]
    }
)


def last_prompt(adapter: Any, sent: dict[str, Any]) -> str:
    """The text of the last user message in a request as it was sent."""
    if adapter is gemini:
        return str(sent["contents"][-1].parts[0].text)
    return str(sent["input" if adapter is openai_responses else "messages"][-1]["content"])


REQUEST = ModelRequest(messages=[UserPrompt("go")], tools=[get_weather, play])


async def both_ways(adapter: Any, request: ModelRequest) -> tuple[list[Any], ModelTurn]:
    async with SimServer(parse_scenario(SCRIPT), time_scale=0) as sim:
        provider = adapter(sim)
        try:
            streamed = [event async for event in provider.stream(request)]
            plain = await provider.complete(request)
        finally:
            await close(provider)
    assert [r.stream for r in sim.log] == [True, False]
    return streamed, plain


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_a_stream_gives_each_call_then_the_same_turn_as_a_plain_request(adapter: Any) -> None:
    streamed, plain = asyncio.run(both_ways(adapter, REQUEST))
    turn = streamed[-1]
    assert isinstance(turn, ModelTurn)
    completed = [e.call for e in streamed if isinstance(e, CallComplete)]
    assert [(c.name, c.id) for c in completed] == [(c.name, c.id) for c in turn.calls]
    assert [c.name for c in turn.calls] == ["get_weather", "spotify.play", "get_weather"]
    assert "".join(e.text for e in streamed if isinstance(e, TextDelta)) == "Looking."
    assert (turn.text, turn.stop, turn.usage) == (plain.text, plain.stop, plain.usage)
    as_dicts = [
        json.loads(c.arguments) if isinstance(c.arguments, str) else dict(c.arguments)
        for c in turn.calls
    ]
    assert as_dicts == [{"city": "Paris"}, {"artist": "Muse"}, {"city": "Oslo"}]


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_a_streamed_turn_can_be_answered_and_the_conversation_goes_on(adapter: Any) -> None:
    async def main() -> ModelTurn:
        async with SimServer(parse_scenario(SCRIPT), time_scale=0) as sim:
            provider = adapter(sim)
            try:
                first = [e async for e in provider.stream(REQUEST)][-1]
                results = tuple(ToolResult(c.id, c.name, "ok") for c in first.calls)
                request = ModelRequest(
                    messages=[UserPrompt("go"), first, ToolReturns(results)],
                    tools=REQUEST.tools,
                )
                return [e async for e in provider.stream(request)][-1]
            finally:
                await close(provider)

    final = asyncio.run(main())
    assert (final.text, final.calls, final.stop) == ("Done.", (), "end")


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_a_rejected_stream_is_raised_with_its_request(adapter: Any) -> None:
    unanswered = ModelRequest(
        messages=[
            UserPrompt("go"),
            ModelTurn(calls=(ToolCall("c1", "get_weather", {"city": "Rome"}),), stop="tool_calls"),
            UserPrompt("never mind"),
        ],
        tools=REQUEST.tools,
    )

    async def main() -> None:
        async with SimServer(parse_scenario(SCRIPT), time_scale=0) as sim:
            provider = adapter(sim)
            try:
                async for _ in provider.stream(unanswered):
                    pass
            finally:
                await close(provider)

    with pytest.raises(ProviderError, match=r"\(400\)") as caught:
        asyncio.run(main())
    assert last_prompt(adapter, caught.value.request) == "never mind"


def test_a_model_stream_gives_events_then_its_turn_and_closes_what_it_reads() -> None:
    closed: list[bool] = []

    async def produce(whole: bool) -> Any:
        try:
            yield TextDelta("hi")
            yield CallComplete(ToolCall("c", "t"), 0)
            if whole:
                yield ModelTurn(text="hi", calls=(ToolCall("c", "t"),), stop="tool_calls")
                yield TextDelta("never read: the turn ends the stream")
        finally:
            closed.append(True)

    async def main() -> None:
        stream = ModelStream(produce(True))
        with pytest.raises(StreamError, match="ended before the message did"):
            _ = stream.turn
        events = [event async for event in stream]
        assert [type(e).__name__ for e in events] == ["TextDelta", "CallComplete"]
        assert stream.turn.text == "hi"
        await stream.aclose()
        cut = ModelStream(produce(False))
        assert len([event async for event in cut]) == 2
        with pytest.raises(StreamError):
            _ = cut.turn

    asyncio.run(main())
    assert closed == [True, True]
