"""Anthropic stream assembly: calls complete at their block's stop, equal to the plain response."""

from __future__ import annotations

import asyncio
import json

import pytest
from _hyp import examples
from anthropic.types import Message, RawMessageStreamEvent
from hypothesis import given
from hypothesis import strategies as st

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
from volley.providers.anthropic import _process_response
from volley.providers.streams import AnthropicAssembler, CallComplete, StreamError, TurnEnd
from volley.sim import AnthropicMessages, SimRequest
from volley.sim._wire import Rendering, output_tokens

NAMES = ToolNames(["get_weather", "get_time"])


def rendered(reply):
    request = SimRequest("m", True, (), None, 17, {})
    info = Rendering("id1", 1700000000, 17, output_tokens(reply))
    return [json.loads(e.data) for e in AnthropicMessages().events(request, reply, info)]


@pytest.mark.parametrize("sdk_objects", [False, True])
def test_sim_stream_matches_the_plain_response(sdk_objects):
    events, plain = asyncio.run(sim_stream("anthropic"))
    fed = (
        as_sdk(RawMessageStreamEvent, [e for e in events if e["type"] != "ping"])
        if (sdk_objects)
        else events
    )
    assembler = AnthropicAssembler(NAMES)
    out = run(assembler, fed)
    check_neutral_stream(out)
    expected = _process_response(Message.model_validate(plain), NAMES)
    turn = assembler.finish()
    assert (turn.text, turn.stop, turn.usage, turn.model) == (
        expected.text,
        expected.stop,
        expected.usage,
        expected.model,
    )
    same_calls(turn.calls, expected.calls)
    same_calls(completed(out), expected.calls)
    assert turn.provider_data == expected.provider_data
    assert len(expected.calls) == 3
    # Each call comes out before the next call's block has even started.
    starts = [k for k, e in enumerate(fed) if _type(e) == "content_block_start"][1:]
    at = [k for k, e in out if isinstance(e, CallComplete)]
    assert all(done < nxt for done, nxt in zip(at, starts[1:], strict=False))
    assert isinstance(out[-1][1], TurnEnd)
    assert assembler.incomplete() == []


def _type(event):
    return event["type"] if isinstance(event, dict) else event.type


@examples(150)
@given(reply=replies, data=st.data())
def test_resplit_fragments_give_the_same_calls(reply, data):
    events = rendered(reply)

    def key(e):
        if e["type"] == "content_block_delta":
            return e["index"], e["delta"]["type"]
        return None

    def text(e):
        delta = e["delta"]
        return delta.get("partial_json", delta.get("text", ""))

    def make(e, piece):
        field = "partial_json" if e["delta"]["type"] == "input_json_delta" else "text"
        return {**e, "delta": {"type": e["delta"]["type"], field: piece}}

    fuzzed = resplit(events, key, text, make, data)
    assembler = AnthropicAssembler(ToolNames([]))
    out = run(assembler, fuzzed)
    check_neutral_stream(out)
    turn = assembler.finish()
    assert turn.text == reply.text
    assert [(c.id, c.name, c.arguments) for c in completed(out)] == [
        (c.id, c.name, c.arguments) for c in reply.calls
    ]
    assert turn.calls == tuple(completed(out))


@examples(100)
@given(reply=replies, data=st.data())
def test_truncated_call_is_never_emitted(reply, data):
    events = rendered(reply)
    deltas = [
        k
        for k, e in enumerate(events)
        if e["type"] == "content_block_delta" and e["delta"]["type"] == "input_json_delta"
    ]
    if not deltas:
        return
    cut = data.draw(st.sampled_from(deltas))
    cut_index = events[cut]["index"]
    tail = data.draw(st.sampled_from(["none", "max_tokens"]))
    fed = events[: cut + 1]
    if tail == "max_tokens":
        fed += [
            {
                "type": "message_delta",
                "delta": {"stop_reason": "max_tokens"},
                "usage": {"output_tokens": 5},
            },
            {"type": "message_stop"},
        ]
    assembler = AnthropicAssembler(ToolNames([]))
    out = run(assembler, fed)
    cut_id = next(
        e["content_block"]["id"]
        for e in events
        if e.get("index") == cut_index and e["type"] == "content_block_start"
    )
    assert cut_id not in [c.id for c in completed(out)]
    assert [i.id for i in assembler.incomplete()] == [cut_id]
    turn = assembler.finish()
    assert cut_id not in [c.id for c in turn.calls]
    assert turn.stop == ("max_tokens" if tail == "max_tokens" else "other")
    echoed = turn.provider_data["anthropic_content"]
    assert cut_id not in [b.get("id") for b in echoed]


@examples(200)
@given(reply=replies, data=st.data())
def test_garbage_raises_stream_error_only(reply, data):
    events = rendered(reply)
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
    feed_garbage(AnthropicAssembler(ToolNames([])), fed)


@pytest.mark.parametrize(
    ("events", "message"),
    [
        ([{"type": "content_block_stop", "index": 0}], "before message_start"),
        ([{"type": "error", "error": {"type": "overloaded_error"}}], "overloaded"),
        ([{"type": "hello"}], "not a valid"),
        ("not an event", "expected"),
    ],
)
def test_bad_first_events(events, message):
    assembler = AnthropicAssembler(ToolNames([]))
    *head, last = events if isinstance(events, list) else [events]
    for event in head:
        assembler.feed(event)
    with pytest.raises(StreamError, match=message):
        assembler.feed(last)


@pytest.mark.parametrize(
    ("event", "message"),
    [
        (
            {
                "type": "content_block_delta",
                "index": 7,
                "delta": {"type": "input_json_delta", "partial_json": "{"},
            },
            "never started",
        ),
        ({"type": "content_block_stop", "index": 7}, "never started"),
        (
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "text_delta", "text": "x"},
            },
            "a tool_use",
        ),
        (
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            },
            "already started",
        ),
    ],
)
def test_out_of_order_events(event, message):
    reply_events = rendered(
        __import__("volley.sim._script", fromlist=["Reply"]).Reply(
            "",
            (
                __import__("volley.sim._script", fromlist=["EmittedCall"]).EmittedCall(
                    "c1", "f", {"a": 1}
                ),
            ),
            0,
        )
    )
    assembler = AnthropicAssembler(ToolNames([]))
    for e in reply_events[:2]:  # message_start, content_block_start of the call
        assembler.feed(e)
    with pytest.raises(StreamError, match=message):
        assembler.feed(event)


def test_ping_skipped_and_events_after_stop_refused():
    assembler = AnthropicAssembler(ToolNames([]))
    from volley.sim._script import Reply

    events = rendered(Reply("hi", (), 0))
    assert assembler.feed({"type": "ping"}) == []
    run(assembler, events)
    with pytest.raises(StreamError, match="after message_stop"):
        assembler.feed({"type": "message_stop"})
