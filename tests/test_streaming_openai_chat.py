"""Chat Completions stream assembly: index changes and finish_reason complete calls."""

from __future__ import annotations

import asyncio
import json

import pytest
from _hyp import examples
from hypothesis import given
from hypothesis import strategies as st
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from tests._streaming import (
    as_sdk,
    check_neutral_stream,
    completed,
    feed_garbage,
    garbage_dicts,
    replies,
    resplit,
    run,
    same_calls,
    sim_stream,
)
from volley.providers._names import ToolNames
from volley.providers.openai_chat import _process_response
from volley.providers.streams import CallComplete, OpenAIChatAssembler, StreamError
from volley.sim import OpenAIChat, SimRequest
from volley.sim._script import EmittedCall, Reply
from volley.sim._wire import Rendering, output_tokens

NAMES = ToolNames(["get_weather", "get_time"])


def rendered(reply, *, ollama=False):
    request = SimRequest("m", True, (), None, 17, {"stream_options": {"include_usage": True}})
    info = Rendering("id1", 1700000000, 17, output_tokens(reply))
    events = OpenAIChat(ollama=ollama).events(request, reply, info)
    return [json.loads(e.data) for e in events if e.data != "[DONE]"]


@pytest.mark.parametrize("sdk_objects", [False, True])
def test_sim_stream_matches_the_plain_response(sdk_objects):
    events, plain = asyncio.run(sim_stream("openai_chat"))
    fed = as_sdk(ChatCompletionChunk, events) if sdk_objects else events
    assembler = OpenAIChatAssembler(NAMES)
    out = run(assembler, fed)
    check_neutral_stream(out)
    expected = _process_response(ChatCompletion.model_validate(plain), NAMES)
    turn = assembler.finish()
    assert (turn.text, turn.stop, turn.usage, turn.model) == (
        expected.text,
        expected.stop,
        expected.usage,
        expected.model,
    )
    assert turn.calls == expected.calls  # the same JSON text, byte for byte
    same_calls(completed(out), expected.calls)
    assert len(expected.calls) == 3
    # Call k is out by the chunk that starts call k+1, before any of its argument fragments.
    starts = [
        k
        for k, e in enumerate(events)
        for part in (e["choices"][0]["delta"].get("tool_calls") or [] if e["choices"] else [])
        if part.get("id")
    ]
    at = [k for k, e in out if isinstance(e, CallComplete)]
    assert all(done <= nxt for done, nxt in zip(at, starts[1:], strict=False))
    assert assembler.incomplete() == []


@examples(150)
@given(reply=replies, ollama=st.booleans(), data=st.data())
def test_resplit_arguments_give_the_same_calls(reply, ollama, data):
    events = rendered(reply, ollama=ollama)

    def key(e):
        if not e["choices"]:
            return None
        delta = e["choices"][0]["delta"]
        parts = delta.get("tool_calls")
        if parts and "id" not in parts[0]:
            return ("call", parts[0]["index"])
        if delta.get("content"):
            return ("text",)
        return None

    def text(e):
        delta = e["choices"][0]["delta"]
        if "content" in delta:
            return delta["content"]
        return delta["tool_calls"][0]["function"]["arguments"]

    def make(e, piece):
        choice = e["choices"][0]
        if "content" in choice["delta"]:
            delta = {"content": piece}
        else:
            at = choice["delta"]["tool_calls"][0]["index"]
            delta = {"tool_calls": [{"index": at, "function": {"arguments": piece}}]}
        return {**e, "choices": [{**choice, "delta": delta}]}

    fuzzed = resplit(events, key, text, make, data)
    assembler = OpenAIChatAssembler(ToolNames([]))
    out = run(assembler, fuzzed)
    check_neutral_stream(out)
    turn = assembler.finish()
    assert turn.text == reply.text
    assert [(c.id, c.name, c.arguments) for c in completed(out)] == [
        (c.id, c.name, c.arguments_json) for c in reply.calls
    ]
    assert turn.calls == tuple(completed(out))
    assert assembler.incomplete() == []


@examples(100)
@given(reply=replies, ollama=st.booleans(), data=st.data())
def test_truncated_call_is_never_emitted(reply, ollama, data):
    events = rendered(reply, ollama=ollama)
    fragments = [
        k
        for k, e in enumerate(events)
        if e["choices"]
        and e["choices"][0]["delta"].get("tool_calls")
        and "id" not in e["choices"][0]["delta"]["tool_calls"][0]
    ]
    if not fragments:
        return
    cut = data.draw(st.sampled_from(fragments))
    owner = max(
        (k, e["choices"][0]["delta"]["tool_calls"][0]["id"])
        for k, e in enumerate(events[:cut])
        if e["choices"]
        and e["choices"][0]["delta"].get("tool_calls")
        and "id" in e["choices"][0]["delta"]["tool_calls"][0]
    )[1]
    fed = events[: cut + 1]
    length = data.draw(st.booleans())
    if length:
        last = events[-2] if not events[-1]["choices"] else events[-1]
        fed.append({**last, "choices": [{**last["choices"][0], "finish_reason": "length"}]})
    assembler = OpenAIChatAssembler(ToolNames([]))
    out = run(assembler, fed)
    assert owner not in [c.id for c in completed(out)]
    assert [i.id for i in assembler.incomplete()] == [owner]
    turn = assembler.finish()
    assert owner not in [c.id for c in turn.calls]
    assert turn.stop == ("max_tokens" if length else "other")


@examples(200)
@given(reply=replies, ollama=st.booleans(), data=st.data())
def test_garbage_raises_stream_error_only(reply, ollama, data):
    events = rendered(reply, ollama=ollama)
    how = data.draw(st.sampled_from(["garbage", "shuffle", "drop", "insert"]))
    if how == "garbage":
        fed = data.draw(st.lists(garbage_dicts, min_size=1, max_size=5))
    elif how == "shuffle":
        fed = data.draw(st.permutations(events))
    elif how == "drop":
        k = data.draw(st.integers(0, len(events) - 1))
        fed = events[:k] + events[k + 1 :]
    else:
        k = data.draw(st.integers(0, len(events)))
        fed = [*events[:k], data.draw(garbage_dicts), *events[k:]]
    feed_garbage(OpenAIChatAssembler(ToolNames([])), fed)


def _two_calls():
    return rendered(Reply("", (EmittedCall("a", "f", {"x": 1}), EmittedCall("b", "g", {})), 0))


def test_returning_to_a_completed_index_is_an_error():
    events = _two_calls()
    head = events[0]
    back = {
        **head,
        "choices": [
            {
                "index": 0,
                "delta": {"tool_calls": [{"index": 0, "function": {"arguments": "}"}}]},
                "finish_reason": None,
            }
        ],
    }
    assembler = OpenAIChatAssembler(ToolNames([]))
    starts = [
        k
        for k, e in enumerate(events)
        if e["choices"] and (e["choices"][0]["delta"].get("tool_calls") or [{}])[0].get("id") == "b"
    ]
    run(assembler, events[: starts[0] + 1])
    with pytest.raises(StreamError, match="continued after it was complete"):
        assembler.feed(back)


def test_a_call_without_an_id_and_content_after_finish_are_errors():
    events = _two_calls()
    head = events[0]
    anonymous = {
        **head,
        "choices": [
            {
                "index": 0,
                "delta": {
                    "tool_calls": [{"index": 3, "function": {"name": "f", "arguments": "{}"}}]
                },
                "finish_reason": None,
            }
        ],
    }
    with pytest.raises(StreamError, match="without an id"):
        OpenAIChatAssembler(ToolNames([])).feed(anonymous)
    assembler = OpenAIChatAssembler(ToolNames([]))
    run(assembler, events)
    with pytest.raises(StreamError, match="after finish_reason"):
        assembler.feed(
            {**head, "choices": [{"index": 0, "delta": {"content": "x"}, "finish_reason": None}]}
        )


def test_wire_names_are_mapped_back():
    names = ToolNames(["spotify.play"])
    reply = Reply("", (EmittedCall("a", names.to_wire("spotify.play"), {}),), 0)
    assembler = OpenAIChatAssembler(names)
    out = run(assembler, rendered(reply))
    assert [c.name for c in completed(out)] == ["spotify.play"]
