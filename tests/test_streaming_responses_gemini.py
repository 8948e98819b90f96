"""Responses and Gemini stream assembly against the simulator's real streams."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from google.genai.types import GenerateContentResponse
from openai.types.responses import Response, ResponseStreamEvent

from tests._streaming import as_sdk, check_neutral_stream, completed, run, same_calls, sim_stream
from volley import ModelTurn
from volley.providers import gemini as gemini_adapter
from volley.providers import openai_responses as responses_adapter
from volley.providers._names import ToolNames
from volley.providers.streams import (
    CallComplete,
    GeminiAssembler,
    OpenAIResponsesAssembler,
    StreamError,
)

NAMES = ToolNames(["get_weather", "get_time"])


@pytest.mark.parametrize("sdk_objects", [False, True])
def test_responses_sim_stream_matches_the_plain_response(sdk_objects):
    events, plain = asyncio.run(sim_stream("openai_responses"))
    fed = as_sdk(ResponseStreamEvent, events) if sdk_objects else events
    assembler = OpenAIResponsesAssembler(NAMES)
    out = run(assembler, fed)
    check_neutral_stream(out)
    expected = responses_adapter.turn_from_response(Response.model_validate(plain), NAMES)
    turn = assembler.finish()
    assert (turn.text, turn.stop, turn.usage, turn.model) == (
        expected.text,
        expected.stop,
        expected.usage,
        expected.model,
    )
    assert turn.calls == expected.calls
    # Items go back as they came; only the message's id differs between the two responses.
    streamed_ids = [
        e["item"]["id"]
        for e in events
        if e["type"] == "response.output_item.done" and e["item"]["type"] == "message"
    ]
    assert [i.get("id") for i in message_items(turn)] == streamed_ids
    assert len(streamed_ids) == 1
    assert without_message_ids(turn) == without_message_ids(expected)
    assert len(expected.calls) == 3
    adds = [k for k, e in enumerate(events) if e["type"] == "response.output_item.added"]
    at = [k for k, e in out if isinstance(e, CallComplete)]
    assert all(done < nxt for done, nxt in zip(at, adds[2:], strict=False))


def message_items(turn: ModelTurn) -> list[dict[str, Any]]:
    return [i for i in turn.provider_data["responses_items"] if i.get("type") == "message"]


def without_message_ids(turn: ModelTurn) -> list[dict[str, Any]]:
    items = turn.provider_data["responses_items"]
    return [{k: v for k, v in i.items() if i["type"] != "message" or k != "id"} for i in items]


def test_responses_truncated_call_is_never_emitted():
    events, _ = asyncio.run(sim_stream("openai_responses"))
    cut = max(
        k for k, e in enumerate(events) if e["type"] == "response.function_call_arguments.delta"
    )
    assembler = OpenAIResponsesAssembler(NAMES)
    out = run(assembler, events[:cut])
    assert len(completed(out)) == 2
    (missing,) = assembler.incomplete()
    assert missing.name == "get_time"
    turn = assembler.finish()
    assert len(turn.calls) == 2
    assert turn.stop == "other"


def test_responses_out_of_order():
    events, _ = asyncio.run(sim_stream("openai_responses"))
    delta = next(e for e in events if e["type"] == "response.function_call_arguments.delta")
    assembler = OpenAIResponsesAssembler(NAMES)
    with pytest.raises(StreamError, match=r"before response\.created"):
        assembler.feed(delta)
    assembler.feed(events[0])
    with pytest.raises(StreamError, match="never added"):
        assembler.feed(delta)
    with pytest.raises(StreamError, match="not a valid"):
        OpenAIResponsesAssembler(NAMES).feed({"type": "response.output_item.added"})


@pytest.mark.parametrize("sdk_objects", [False, True])
def test_gemini_sim_stream_matches_the_plain_response(sdk_objects):
    events, plain = asyncio.run(sim_stream("gemini"))
    fed = as_sdk(GenerateContentResponse, events) if sdk_objects else events
    assembler = GeminiAssembler(NAMES)
    out = run(assembler, fed)
    check_neutral_stream(out)
    expected = gemini_adapter._process_response(
        GenerateContentResponse.model_validate(plain), NAMES
    )
    turn = assembler.finish()
    assert (turn.text, turn.stop, turn.usage, turn.model) == (
        expected.text,
        expected.stop,
        expected.usage,
        expected.model,
    )
    same_calls(turn.calls, expected.calls, ids=False)
    assert all(c.id.startswith(gemini_adapter.LOCAL_ID_PREFIX) for c in turn.calls)
    assert turn.calls == tuple(completed(out))
    assert turn.provider_data["gemini_content"] == expected.provider_data["gemini_content"]
    # every call is out with its own chunk
    at = [k for k, e in out if isinstance(e, CallComplete)]
    assert at == sorted(set(at))
    assert at[-1] == len(events) - 1
    assert assembler.incomplete() == []


def test_gemini_garbage():
    with pytest.raises(StreamError):
        GeminiAssembler(NAMES).feed({"candidates": "nope"})
    with pytest.raises(StreamError, match="without a name"):
        GeminiAssembler(NAMES).feed(
            {"candidates": [{"content": {"parts": [{"functionCall": {}}]}}]}
        )
