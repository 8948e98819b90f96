"""Streams reassemble into exactly the non-streaming response, for any scripted turn."""

from __future__ import annotations

import json

from _hyp import examples
from hypothesis import given
from hypothesis import strategies as st

from tests._sim import assemble_anthropic, assemble_openai
from volley.sim import AnthropicMessages, OpenAIChat, SimRequest
from volley.sim._script import EmittedCall, Reply
from volley.sim._tokens import count_tokens, split_tokens
from volley.sim._wire import Rendering, output_tokens

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)
calls = st.builds(
    EmittedCall,
    id=st.from_regex(r"[a-z0-9]{8}", fullmatch=True),
    name=st.from_regex(r"[a-zA-Z0-9_-]{1,64}", fullmatch=True),
    arguments=st.dictionaries(st.text(), json_values, max_size=4),
)
replies = st.builds(
    Reply, text=st.text(), calls=st.lists(calls, max_size=4).map(tuple), turn=st.just(0)
).filter(lambda r: bool(r.text or r.calls))


def request(stream_options: object = None) -> SimRequest:
    body = {"stream_options": stream_options} if stream_options else {}
    return SimRequest("m", True, (), None, 17, body)


def info(reply: Reply) -> Rendering:
    return Rendering("id1", 1700000000, 17, output_tokens(reply))


@examples(100)
@given(reply=replies)
def test_anthropic_stream_reassembles_to_the_response(reply):
    wire = AnthropicMessages()
    events = list(wire.events(request(), reply, info(reply)))
    assembled = assemble_anthropic(b"".join(e.encode() for e in events).decode())
    expected = wire.response(request(), reply, info(reply))
    assert assembled == expected
    assert sum(e.tokens for e in events) == output_tokens(reply)
    for call in reply.calls:  # the arguments come in fragments, the first one empty
        index = [b.get("id") for b in expected["content"]].index(call.id)
        fragments = [
            json.loads(e.data)["delta"]["partial_json"]
            for e in events
            if e.event == "content_block_delta" and json.loads(e.data)["index"] == index
        ]
        assert fragments[0] == ""
        assert len(fragments) >= 2


@examples(100)
@given(reply=replies, ollama=st.booleans())
def test_openai_stream_reassembles_to_the_response(reply, ollama):
    wire = OpenAIChat(ollama=ollama)
    req = request({"include_usage": True})
    events = list(wire.events(req, reply, info(reply)))
    assembled = assemble_openai(b"".join(e.encode() for e in events).decode(), ollama=ollama)
    assert assembled == wire.response(req, reply, info(reply))
    assert sum(e.tokens for e in events) == output_tokens(reply)


@given(text=st.text(), size=st.integers(1, 5))
def test_split_tokens_keeps_text_and_count(text, size):
    pieces = split_tokens(text, size)
    assert "".join(p for p, _ in pieces) == text
    assert sum(n for _, n in pieces) == count_tokens(text)
    assert all(n <= size for _, n in pieces)


def test_token_rule_is_the_documented_one():
    assert count_tokens('{"city": "Paris"}') == 6  # {" city ": " Paris "}
    assert count_tokens("Hello, world!") == 4
    assert count_tokens("https://example.org/a.b") == 9  # https :// example . org / a . b
    assert count_tokens("  ") == 0
