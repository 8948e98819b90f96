"""For random batches, what each adapter sends is what the API accepts.

Each adapter builds a request for a random turn of calls and its results, through its real SDK;
the SDK's bytes are checked by the simulated provider's strict validation (the rules of the real
API: every call answered, in the right place, once) and against the SDK's own param types.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import httpx2
import pydantic
from _hyp import examples
from anthropic import AsyncAnthropic
from anthropic.types import MessageParam
from google import genai
from google.genai import types
from hypothesis import given
from hypothesis import strategies as st
from openai import AsyncOpenAI
from openai.types.chat import ChatCompletionMessageParam
from openai.types.responses import ResponseInputParam

from volley import ModelTurn, Tool, ToolCall, ToolResult, ToolReturns, UserPrompt
from volley.providers import ModelRequest, Provider
from volley.providers.anthropic import AnthropicProvider
from volley.providers.gemini import GeminiProvider
from volley.providers.openai_chat import OpenAIChatProvider
from volley.providers.openai_responses import OpenAIResponsesProvider
from volley.sim import AnthropicMessages, Gemini, OpenAIChat, OpenAIResponses, WireError

TOOL_NAMES = ["get_weather", "spotify.play", "db.query:v2", "x" * 70]
TOOLS = [
    Tool.from_schema(name, "", {"properties": {"q": {"type": "string"}}}, print)
    for name in TOOL_NAMES
]

ANTHROPIC_REPLY = {
    "id": "msg_1",
    "type": "message",
    "role": "assistant",
    "model": "m",
    "content": [{"type": "text", "text": "ok"}],
    "stop_reason": "end_turn",
    "stop_sequence": None,
    "usage": {"input_tokens": 1, "output_tokens": 1},
}
OPENAI_REPLY = {
    "id": "c",
    "object": "chat.completion",
    "created": 0,
    "model": "m",
    "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}
    ],
}


RESPONSES_REPLY = {
    "id": "r",
    "object": "response",
    "created_at": 0,
    "model": "m",
    "status": "completed",
    "output": [
        {
            "type": "message",
            "id": "msg",
            "role": "assistant",
            "status": "completed",
            "content": [{"type": "output_text", "text": "ok", "annotations": []}],
        }
    ],
    "parallel_tool_calls": True,
    "tool_choice": "auto",
    "tools": [],
}
GEMINI_REPLY = {
    "candidates": [
        {"content": {"role": "model", "parts": [{"text": "ok"}]}, "finishReason": "STOP"}
    ]
}
Wire = AnthropicMessages | OpenAIChat | OpenAIResponses | Gemini


def checked_by(wire: Wire, reply: dict[str, Any], sent: list[dict[str, Any]]) -> httpx2.AsyncClient:
    def handle(request: httpx2.Request) -> httpx2.Response:
        body = json.loads(request.content)
        sent.append(body)
        version, _, target = request.url.path.strip("/").partition("/models/")
        try:
            wire.parse(body, {"version": version, "target": target})
        except WireError as error:
            return httpx2.Response(400, json=wire.error_body(error))
        return httpx2.Response(200, json=reply)

    return httpx2.AsyncClient(transport=httpx2.MockTransport(handle))


def anthropic(sent: list[dict[str, Any]]) -> Provider:
    http = checked_by(AnthropicMessages(), ANTHROPIC_REPLY, sent)
    client = AsyncAnthropic(api_key="x", base_url="http://a.test", max_retries=0, http_client=http)
    return AnthropicProvider("m", client=client)


def openai_chat(sent: list[dict[str, Any]]) -> Provider:
    http = checked_by(OpenAIChat(), OPENAI_REPLY, sent)
    client = AsyncOpenAI(api_key="x", base_url="http://o.test/v1", max_retries=0, http_client=http)
    return OpenAIChatProvider("m", client=client)


def openai_responses(sent: list[dict[str, Any]]) -> Provider:
    http = checked_by(OpenAIResponses(), RESPONSES_REPLY, sent)
    client = AsyncOpenAI(api_key="x", base_url="http://o.test/v1", max_retries=0, http_client=http)
    return OpenAIResponsesProvider("m", client=client)


def gemini(sent: list[dict[str, Any]]) -> Provider:
    # These turns were not signed by the simulator, so it must not ask for its signatures.
    options = types.HttpOptions(base_url="http://g.test")
    options.httpx_async_client = checked_by(Gemini(signatures=False), GEMINI_REPLY, sent)
    return GeminiProvider("m", client=genai.Client(api_key="x", http_options=options))


ADAPTERS = [
    ("anthropic", anthropic),
    ("openai", openai_chat),
    ("responses", openai_responses),
    ("gemini", gemini),
]
PARAM_TYPES: dict[str, tuple[str, Any]] = {
    "anthropic": ("messages", pydantic.TypeAdapter(list[MessageParam])),
    "openai": ("messages", pydantic.TypeAdapter(list[ChatCompletionMessageParam])),
    "responses": ("input", pydantic.TypeAdapter(ResponseInputParam)),
    "gemini": ("contents", pydantic.TypeAdapter(list[types.Content])),
}

texts = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=40)


@st.composite
def turns(draw: Any) -> tuple[ModelTurn, ToolReturns]:
    n = draw(st.integers(1, 8))
    ids = draw(
        st.lists(
            st.from_regex(r"[a-zA-Z0-9_]{1,20}", fullmatch=True),
            min_size=n,
            max_size=n,
            unique=True,
        )
    )
    calls = tuple(
        ToolCall(
            call_id,
            draw(st.sampled_from(TOOL_NAMES)),
            draw(st.one_of(st.just("{bad json"), st.fixed_dictionaries({"q": texts}))),
        )
        for call_id in ids
    )
    results = tuple(
        ToolResult(call.id, call.name, draw(texts.filter(bool)), is_error=draw(st.booleans()))
        for call in calls
    )
    return ModelTurn(text=draw(texts), calls=calls, stop="tool_calls"), ToolReturns(results)


@given(turns(), st.sampled_from(ADAPTERS), st.booleans())
@examples(300)
def test_results_messages_are_accepted_and_fit_the_sdk_types(
    turn: tuple[ModelTurn, ToolReturns],
    adapter: tuple[str, Callable[[list[dict[str, Any]]], Provider]],
    parallel: bool,
) -> None:
    kind, make = adapter
    sent: list[dict[str, Any]] = []
    provider = make(sent)
    request = ModelRequest(
        messages=[UserPrompt("go"), *turn], tools=TOOLS, instructions="hint", parallel=parallel
    )
    reply = asyncio.run(provider.complete(request))  # a ProviderError would fail the test
    assert reply.text == "ok"
    (body,) = sent
    field, param_type = PARAM_TYPES[kind]
    param_type.validate_python(body[field])


def _answers(kind: str, body: dict[str, Any]) -> list[tuple[bool, str]]:
    """Each result as the request carries it: whether it says it failed, and its text."""
    if kind == "anthropic":
        lists = [m["content"] for m in body["messages"] if isinstance(m["content"], list)]
        blocks = [b for content in lists for b in content]
        return [
            (b.get("is_error", False), b["content"]) for b in blocks if b["type"] == "tool_result"
        ]
    if kind == "gemini":
        parts = [p for c in body["contents"] for p in c["parts"]]
        return [
            ("error" in r, r.get("error", r.get("output")))
            for p in parts
            if (r := p.get("functionResponse", {}).get("response")) is not None
        ]
    if kind == "openai":
        texts = [m["content"] for m in body["messages"] if m["role"] == "tool"]
    else:
        texts = [i["output"] for i in body["input"] if i.get("type") == "function_call_output"]
    return [(text.lower().startswith("error"), text) for text in texts]


@given(turns(), st.sampled_from(ADAPTERS))
@examples(200)
def test_every_format_says_which_results_failed(
    turn: tuple[ModelTurn, ToolReturns],
    adapter: tuple[str, Callable[[list[dict[str, Any]]], Provider]],
) -> None:
    kind, make = adapter
    sent: list[dict[str, Any]] = []
    request = ModelRequest(messages=[UserPrompt("go"), *turn], tools=TOOLS)
    asyncio.run(make(sent).complete(request))
    (body,) = sent
    answers = _answers(kind, body)
    results = turn[1].results
    assert len(answers) == len(results)
    for result, (says_failed, text) in zip(results, answers, strict=True):
        assert result.content in text  # the words the model needs, whatever marks them
        if result.is_error:
            assert says_failed, (kind, text)
        elif kind in ("anthropic", "gemini"):  # a flag: only failures carry it
            assert not says_failed
        else:  # text only: a value is sent as it is, even one that starts with "error"
            assert text == result.content
