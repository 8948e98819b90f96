"""The output-token cap: replies are cut in emission order and rendered as each real API does."""

from __future__ import annotations

import json
from typing import Any

import pydantic
import pytest
from _hyp import examples
from anthropic.types import Message, RawMessageStreamEvent
from google.genai.types import GenerateContentResponse
from hypothesis import given
from hypothesis import strategies as st
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from openai.types.responses import Response, ResponseStreamEvent

from tests._sim import (
    assemble_openai,
    parse_sse,
)
from tests.test_sim_streams import info, replies, request
from volley.sim import AnthropicMessages, Gemini, OpenAIChat, OpenAIResponses, WireError
from volley.sim._script import EmittedCall, Reply
from volley.sim._tokens import count_tokens
from volley.sim._truncate import truncate
from volley.sim._wire import output_tokens


def invalid_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return True
    return False


def stream_text(events: Any) -> str:
    return b"".join(e.encode() for e in events).decode()


def validate(kind: Any, values: list[Any]) -> None:
    """Every value parses as the SDK's own type (stricter than the SDKs, which construct)."""
    adapter = pydantic.TypeAdapter(kind)
    for value in values:
        adapter.validate_python(value)


def capped(data: st.DataObject, reply: Reply, minimum: int = 1) -> int:
    """A cap from ``minimum`` to one past what the reply needs: cut or not, often both."""
    return data.draw(st.integers(minimum, max(minimum, output_tokens(reply) + 1)), label="cap")


@examples(200)
@given(reply=replies, data=st.data(), partial=st.booleans())
def test_truncate_cuts_in_emission_order(reply, data, partial):
    cap = capped(data, reply)
    cut = truncate(reply, cap, partial_calls=partial)
    assert cut.truncated == (output_tokens(reply) > cap)
    if not cut.truncated:
        assert cut == reply
        return
    assert output_tokens(cut) <= cap
    assert reply.text.startswith(cut.text)
    assert cut.calls == reply.calls[: len(cut.calls)]
    if cut.text != reply.text:  # the cap fell in the text: nothing after it
        assert count_tokens(cut.text) == cap
        assert cut.calls == ()
        assert cut.cut_call is None
        return
    following = reply.calls[len(cut.calls)]  # the call the cap stopped
    if cut.cut_call is not None:
        assert partial
        assert output_tokens(cut) == cap
        assert (cut.cut_call.id, cut.cut_call.name) == (following.id, following.name)
        assert following.arguments_json.startswith(cut.cut_call.arguments_json)
        assert invalid_json(cut.cut_call.arguments_json)
    elif partial:  # its name did not fit
        assert output_tokens(cut) + count_tokens(following.name) > cap
    else:
        assert cut.calls == truncate(reply, cap).calls


def test_a_reply_of_exactly_the_cap_is_not_cut():
    reply = Reply("Hi there.", (EmittedCall("c1", "f", {"a": 1}),), 0)
    assert truncate(reply, output_tokens(reply)) is reply
    assert truncate(reply, None) is reply
    cut = truncate(reply, output_tokens(reply) - 1)
    assert cut.cut_call is not None
    assert cut.cut_call.arguments_json == '{"a": 1'


def test_a_call_whose_name_does_not_fit_is_not_started():
    reply = Reply("Hi", (EmittedCall("c1", "get-the-weather", {}),), 0)
    cut = truncate(reply, 3)  # the name takes 5 tokens
    assert (cut.text, cut.calls, cut.cut_call, cut.truncated) == ("Hi", (), None, True)
    assert output_tokens(cut) == 1


def assemble_anthropic_cut(text: str) -> tuple[dict[str, Any], tuple[str, str, str] | None]:
    """The message a stream describes without its unstopped block, and that block's call."""
    events = [(name, json.loads(data)) for name, data in parse_sse(text)]
    names = [n for n, _ in events]
    assert names[0] == "message_start"
    assert names[-2:] == ["message_delta", "message_stop"]
    assert "ping" in names
    validate(RawMessageStreamEvent, [e for n, e in events if n != "ping"])
    message = events[0][1]["message"]
    open_index, partial = None, ""
    for name, event in events[1:-2]:
        assert event["type"] == name
        if name == "content_block_start":
            assert open_index is None, "only the last block may be left open"
            open_index = event["index"]
            assert open_index == len(message["content"])
            message["content"].append(event["content_block"])
            partial = ""
        elif name == "content_block_delta":
            assert event["index"] == open_index
            delta, block = event["delta"], message["content"][open_index]
            if delta["type"] == "text_delta":
                block["text"] += delta["text"]
            else:
                partial += delta["partial_json"]
        elif name == "content_block_stop":
            assert event["index"] == open_index
            block = message["content"][open_index]
            if block["type"] == "tool_use":
                block["input"] = json.loads(partial)
            open_index = None
    cut = None
    if open_index is not None:
        block = message["content"].pop()
        assert block["type"] == "tool_use"
        cut = (block["id"], block["name"], partial)
    delta = events[-2][1]
    message.update(delta["delta"])
    message["usage"].update(delta["usage"])
    return message, cut


@examples(150)
@given(reply=replies, data=st.data())
def test_anthropic_cut_stream_and_message(reply, data):
    wire, cut = AnthropicMessages(), truncate(reply, capped(data, reply))
    events = list(wire.events(request(), cut, info(cut)))
    streamed, open_call = assemble_anthropic_cut(stream_text(events))
    plain = wire.response(request(), cut, info(cut))
    Message.model_validate(plain)
    assert streamed == plain  # the plain message leaves the cut call out
    assert sum(e.tokens for e in events) == plain["usage"]["output_tokens"] == output_tokens(cut)
    expected = "max_tokens" if cut.truncated else ("tool_use" if cut.calls else "end_turn")
    assert plain["stop_reason"] == expected
    if cut.cut_call is None:
        assert open_call is None
    else:
        assert open_call == (cut.cut_call.id, cut.cut_call.name, cut.cut_call.arguments_json)


@examples(150)
@given(reply=replies, data=st.data(), ollama=st.booleans())
def test_openai_chat_cut_stream_and_completion(reply, data, ollama):
    wire, cut = OpenAIChat(ollama=ollama), truncate(reply, capped(data, reply))
    req = request({"include_usage": True})
    events = list(wire.events(req, cut, info(cut)))
    validate(ChatCompletionChunk, [json.loads(e.data) for e in events[:-1]])
    streamed = assemble_openai(stream_text(events), ollama=ollama)
    plain = wire.response(req, cut, info(cut))
    ChatCompletion.model_validate(plain)
    assert streamed == plain
    choice = plain["choices"][0]
    assert (choice["finish_reason"] == "length") == cut.truncated
    assert plain["usage"]["completion_tokens"] == sum(e.tokens for e in events)
    sent = [c["function"]["arguments"] for c in choice["message"].get("tool_calls", [])]
    assert sent[: len(cut.calls)] == [c.arguments_json for c in cut.calls]
    if cut.cut_call is not None:  # the cut call is there, its arguments not JSON
        assert sent[len(cut.calls) :] == [cut.cut_call.arguments_json]
        assert invalid_json(sent[-1])
    else:
        assert len(sent) == len(cut.calls)


def assemble_responses_cut(text: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The final ``response`` of a stream, and the output rebuilt from its events."""
    events = [(name, json.loads(data)) for name, data in parse_sse(text)]
    validate(ResponseStreamEvent, [e for _, e in events])
    assert [e["sequence_number"] for _, e in events] == list(range(len(events)))
    kinds = [name for name, _ in events]
    assert kinds[:2] == ["response.created", "response.in_progress"]
    assert kinds[-1] in ("response.completed", "response.incomplete")
    output: list[dict[str, Any]] = []
    done: set[int] = set()
    for name, event in events[2:-1]:
        if name == "response.output_item.added":
            assert done == set(range(len(output))), "an item starts once the one before is done"
            output.append(event["item"])
            continue
        item = output[event["output_index"]]
        if name == "response.content_part.added":
            item["content"].append(event["part"])
        elif name == "response.output_text.delta":
            item["content"][event["content_index"]]["text"] += event["delta"]
        elif name == "response.function_call_arguments.delta":
            item["arguments"] += event["delta"]
        elif name == "response.function_call_arguments.done":
            assert item["arguments"] == event["arguments"]
            json.loads(item["arguments"])
        elif name == "response.output_item.done":
            assert event["item"] == {**item, "status": event["item"]["status"]}
            output[event["output_index"]] = event["item"]
            done.add(event["output_index"])
    final: dict[str, Any] = events[-1][1]["response"]
    assert final["status"] == kinds[-1].removeprefix("response.")
    unfinished = [k for k in range(len(output)) if k not in done]
    if unfinished:
        assert unfinished == [len(output) - 1]
        assert output[-1]["type"] == "function_call"
        assert final["status"] == "incomplete"
        output[-1] = {**output[-1], "status": "incomplete"}
    return final, output


@examples(150)
@given(reply=replies, data=st.data())
def test_openai_responses_cut_stream_and_response(reply, data):
    wire, cut = OpenAIResponses(), truncate(reply, capped(data, reply, minimum=16))
    events = list(wire.events(request(), cut, info(cut)))
    final, rebuilt = assemble_responses_cut(stream_text(events))
    plain = wire.response(request(), cut, info(cut))
    Response.model_validate(plain)
    assert final == plain
    assert rebuilt == plain["output"]
    assert plain["usage"]["output_tokens"] == sum(e.tokens for e in events) == output_tokens(cut)
    if not cut.truncated:
        assert (plain["status"], plain["incomplete_details"]) == ("completed", None)
        return
    assert plain["status"] == "incomplete"
    assert plain["incomplete_details"] == {"reason": "max_output_tokens"}
    calls = [i for i in plain["output"] if i["type"] == "function_call"]
    statuses = [i["status"] for i in calls]
    assert [i["arguments"] for i in calls[: len(cut.calls)]] == [
        c.arguments_json for c in cut.calls
    ]
    if cut.cut_call is not None:
        assert statuses == ["completed"] * len(cut.calls) + ["incomplete"]
        assert calls[-1]["arguments"] == cut.cut_call.arguments_json
        assert invalid_json(calls[-1]["arguments"])
    else:
        assert statuses == ["completed"] * len(cut.calls)


def assemble_gemini_cut(text: str) -> dict[str, Any]:
    """The response a Gemini stream describes, adjacent text parts joined."""
    chunks = [json.loads(data) for name, data in parse_sse(text) if name is None]
    validate(GenerateContentResponse, chunks)
    parts: list[dict[str, Any]] = []
    for k, chunk in enumerate(chunks):
        (candidate,) = chunk["candidates"]
        assert ("finishReason" in candidate) == (k == len(chunks) - 1)
        for part in candidate["content"].get("parts", []):
            if "text" in part and parts and set(parts[-1]) == {"text"}:
                parts[-1] = {"text": parts[-1]["text"] + part["text"]}
            else:
                parts.append(dict(part))
    last = chunks[-1]
    content = {"role": "model", "parts": parts} if parts else {"role": "model"}
    return {**last, "candidates": [{**last["candidates"][0], "content": content}]}


@examples(150)
@given(reply=replies, data=st.data(), ids=st.booleans())
def test_gemini_cut_stream_and_response(reply, data, ids):
    wire = Gemini(ids=ids)
    cut = truncate(reply, capped(data, reply), partial_calls=wire.partial_calls)
    assert cut.cut_call is None  # Gemini sends a call whole or not at all
    events = list(wire.events(request(), cut, info(cut)))
    plain = wire.response(request(), cut, info(cut))
    GenerateContentResponse.model_validate(plain)
    assert assemble_gemini_cut(stream_text(events)) == plain
    (candidate,) = plain["candidates"]
    assert candidate["finishReason"] == ("MAX_TOKENS" if cut.truncated else "STOP")
    parts = candidate["content"].get("parts", [])
    calls = [p["functionCall"] for p in parts if "functionCall" in p]
    assert [(c["name"], c["args"]) for c in calls] == [(c.name, c.arguments) for c in cut.calls]
    tokens = plain["usageMetadata"]["candidatesTokenCount"]
    assert tokens == sum(e.tokens for e in events) == output_tokens(cut)


def test_streamed_and_plain_agree_on_the_complete_calls():
    """Every format keeps the same complete calls for the same cap; only the cut call differs."""
    calls = tuple(EmittedCall(f"call_{k}", "f", {"k": k, "s": "x y z"}) for k in range(3))
    reply = Reply("Some text.", calls, 0)
    for cap in range(1, output_tokens(reply) + 1):
        kept = {
            len(truncate(reply, cap, partial_calls=p).calls) for p in (True, False)
        }  # Gemini's rule and the others' agree
        assert len(kept) == 1
        cut = truncate(reply, cap)
        anthropic_plain = AnthropicMessages().response(request(), cut, info(cut))
        streamed, _ = assemble_anthropic_cut(
            stream_text(AnthropicMessages().events(request(), cut, info(cut)))
        )
        tool_uses = [b["id"] for b in anthropic_plain["content"] if b["type"] == "tool_use"]
        assert tool_uses == [b["id"] for b in streamed["content"] if b["type"] == "tool_use"]
        assert tool_uses == [c.id for c in calls[: len(cut.calls)]]


@pytest.mark.parametrize(
    ("wire", "body", "expected"),
    [
        (OpenAIChat(), {"max_completion_tokens": 7}, 7),
        (OpenAIChat(), {"max_tokens": 9}, 9),
        (OpenAIChat(), {"max_completion_tokens": 7, "max_tokens": 9}, 7),
        (OpenAIChat(), {"max_completion_tokens": None}, None),
        (OpenAIResponses(), {"max_output_tokens": 16}, 16),
        (Gemini(), {"generationConfig": {"maxOutputTokens": 5}}, 5),
        (Gemini(), {"generation_config": {"max_output_tokens": 6}}, 6),
        (Gemini(), {"generationConfig": {"temperature": 0.5}}, None),
        (AnthropicMessages(), {"max_tokens": 3}, 3),
    ],
)
def test_each_format_reads_its_cap(wire, body, expected):
    assert wire.parse({**base_body(wire), **body}, GEMINI_ROUTE).max_output_tokens == expected


GEMINI_ROUTE = {"version": "v1beta", "target": "m:generateContent"}


def base_body(wire: Any) -> dict[str, Any]:
    if isinstance(wire, Gemini):
        return {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
    if isinstance(wire, OpenAIResponses):
        return {"model": "m", "input": "hi"}
    body: dict[str, Any] = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    return {**body, "max_tokens": 10} if isinstance(wire, AnthropicMessages) else body


@pytest.mark.parametrize(
    ("wire", "body", "fragment"),
    [
        (OpenAIChat(), {"max_completion_tokens": 0}, "Expected a value >= 1, but got 0"),
        (OpenAIChat(), {"max_tokens": "9"}, "Invalid type for 'max_tokens'"),
        (OpenAIResponses(), {"max_output_tokens": 15}, "Expected a value >= 16, but got 15"),
        (OpenAIResponses(), {"max_output_tokens": True}, "expected an integer"),
        (Gemini(), {"generationConfig": {"maxOutputTokens": 0}}, "max_output_tokens"),
        (Gemini(), {"generationConfig": []}, "generation_config"),
        (AnthropicMessages(), {"max_tokens": 0}, "greater than or equal to 1"),
    ],
)
def test_a_bad_cap_is_refused(wire, body, fragment):
    with pytest.raises(WireError) as refused:
        wire.parse({**base_body(wire), **body}, GEMINI_ROUTE)
    assert fragment in refused.value.message
