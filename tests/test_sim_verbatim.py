"""A scenario's ``arguments_text`` reaches a client byte for byte, in every format and mode.

Clients are fed what a broken model writes (``NaN``, nesting 10,000 deep, lone surrogate escapes,
a megabyte of string, non-objects, cut JSON), so each format must carry the text unchanged:
OpenAI's ``arguments`` and Anthropic's streamed ``partial_json`` as strings, Anthropic's plain
``input`` and Gemini's ``args`` spliced raw into the body. The app is driven in process here
(`Simulator.handle`); the loopback and SDK side is in ``test_sim_verbatim_sdks``.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from typing import Any

import pytest
from _hyp import examples
from hypothesis import given
from hypothesis import strategies as st

from tests._sim import assemble_openai, gemini_tools, openai_tools, responses_tools
from volley.sim import (
    AnthropicMessages,
    Gemini,
    OpenAIChat,
    OpenAIResponses,
    Scenario,
    ScenarioError,
    ScriptedCall,
    Turn,
    WireFormat,
    parse_scenario,
)
from volley.sim._app import Simulator
from volley.sim._tokens import MAX_PIECES, TOKEN, count_tokens, split_tokens, token_prefix

FORMATS = ["anthropic", "openai_chat", "openai_responses", "gemini"]
MEGABYTE = json.dumps({"data": "lorem ipsum, dolor; sit amet! " * 34_000})  # ~1 MB, 270k tokens
HOSTILE = [
    '{"a": NaN, "b": Infinity, "c": -Infinity}',
    '{"a": ' + "[" * 10_000 + "]" * 10_000 + "}",
    '{"a": "\\ud800", "b": "\\udfff\\ud800"}',
    "[1, 2]",
    '"x"',
    "3",
    '{"city": "Par',
    "{oops",
    "",
    '{"a":\n 1,\r\n "b":\r 2}',
    '{"key": "{result[0]}"}',  # never a template
]
texts = st.one_of(
    st.sampled_from(HOSTILE),
    st.text(st.characters(exclude_categories=["Cs"])),
    st.text('{}[]":,0123456789.eE+- \\abnu\r\n', max_size=60),
)


def scenario(text: str, *, final: str = "done") -> Scenario:
    """One call with ``text`` verbatim, a plain call after it, then a final templated answer."""
    calls = (ScriptedCall("f", arguments_text=text), ScriptedCall("g", {"k": "{result[0]}"}))
    return Scenario(turns=(Turn(text="Calling.", calls=calls), Turn(text=final)))


def wire_for(fmt: str) -> WireFormat:
    wires: dict[str, WireFormat] = {
        "anthropic": AnthropicMessages(),
        "openai_chat": OpenAIChat(),
        "openai_responses": OpenAIResponses(reasoning=True),
        "gemini": Gemini(),
    }
    return wires[fmt]


def request(fmt: str, stream: bool, history: tuple[Any, ...] = ()) -> tuple[dict[str, Any], Any]:
    """The first request's body (``history`` follows the user's message) and its route."""
    user = "Call f, then g."
    if fmt == "anthropic":
        tools = [{"name": n, "input_schema": {"type": "object"}} for n in "fg"]
        messages = [{"role": "user", "content": user}, *history]
        body = {"model": "m", "max_tokens": 10**9, "messages": messages, "tools": tools}
    elif fmt == "openai_chat":
        messages = [{"role": "user", "content": user}, *history]
        body = {"model": "m", "messages": messages, "tools": openai_tools()}
    elif fmt == "openai_responses":
        body = {"model": "m", "input": [{"role": "user", "content": user}, *history]}
        body["tools"] = responses_tools()
    else:
        contents = [{"role": "user", "parts": [{"text": user}]}, *history]
        method = "streamGenerateContent" if stream else "generateContent"
        return {"contents": contents, "tools": gemini_tools()}, {
            "version": "v1beta",
            "target": f"m:{method}",
        }
    return {**body, "stream": stream}, None


async def exchange(sim: Simulator, fmt: str, stream: bool, history: tuple[Any, ...] = ()) -> str:
    """One request through the app; the response body as text (all events, if streamed)."""
    body, route = request(fmt, stream, history)
    wire = next(w for w in sim.formats if w.name == fmt)
    response = await sim.handle(wire, json.dumps(body).encode(), route)
    assert response.status_code == 200, bytes(response.body)
    if not stream:
        return bytes(response.body).decode()
    chunks = [chunk async for chunk in response.body_iterator]  # type: ignore[attr-defined]
    return b"".join(chunks).decode()


def answer(text: str, fmt: str, stream: bool) -> str:
    sim = Simulator(scenario(text), [wire_for(fmt)], time_scale=0)
    return asyncio.run(exchange(sim, fmt, stream))


def sse_data(stream: str) -> list[str]:
    """Each event's data, its ``data:`` lines joined by ``\\n`` as the SSE rules say."""
    events = []
    for block in stream.split("\n\n")[:-1]:
        lines = [line for line in block.split("\n") if not line.startswith("event: ")]
        assert all(line.startswith("data: ") for line in lines), block
        events.append("\n".join(line.removeprefix("data: ") for line in lines))
    return events


def spliced(body: str, key: str, text: str) -> dict[str, Any]:
    """``body`` read with the raw value of its first ``key`` checked to be ``text`` and nulled.

    A key only ever appears as ``"key":`` where it is one (inside a string every quote is
    escaped), so its first occurrence is the first call's.
    """
    at = body.index(f'"{key}":') + len(key) + 3
    assert body[at : at + len(text)] == text
    document: dict[str, Any] = json.loads(body[:at] + "null" + body[at + len(text) :])
    return document


def received(fmt: str, stream: bool, body: str, text: str) -> str:
    """The first call's arguments text as the client reads it (after checking it is ``text``)."""
    if fmt == "anthropic" and not stream:
        blocks = spliced(body, "input", text)["content"]
        assert next(b for b in blocks if b["type"] == "tool_use")["input"] is None
        return text
    if fmt == "gemini":
        data = next(d for d in sse_data(body) if '"functionCall"' in d) if stream else body
        raw = re.sub(r"\r\n?", "\n", text) if stream else text  # SSE has no bare \r
        (part, *_) = [p for p in _parts(spliced(data, "args", raw)) if "functionCall" in p]
        assert part["functionCall"]["args"] is None
        return raw
    if fmt == "anthropic":
        events = [json.loads(d) for d in sse_data(body)]
        return "".join(
            e["delta"]["partial_json"]
            for e in events
            if e["type"] == "content_block_delta" and e["index"] == 1
        )
    if fmt == "openai_chat":
        document = assemble_openai(body) if stream else json.loads(body)
        return str(document["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"])
    return _responses_arguments(body, stream)


def _parts(document: dict[str, Any]) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = document["candidates"][0]["content"]["parts"]
    return parts


def _responses_arguments(body: str, stream: bool) -> str:
    """The first call's arguments; streamed, every place that carries them must agree."""
    if not stream:
        output = json.loads(body)["output"]
        return str(next(i for i in output if i["type"] == "function_call")["arguments"])
    events = [json.loads(d) for d in sse_data(body)]
    added = next(e for e in events if e.get("item", {}).get("type") == "function_call")
    item_id = added["item"]["id"]
    deltas = "".join(
        e["delta"]
        for e in events
        if e["type"] == "response.function_call_arguments.delta" and e["item_id"] == item_id
    )
    done = next(e for e in events if e["type"] == "response.function_call_arguments.done")
    item = next(
        e["item"]
        for e in events
        if e["type"] == "response.output_item.done" and e["item"]["id"] == item_id
    )
    final = next(i for i in events[-1]["response"]["output"] if i["id"] == item_id)
    assert deltas == done["arguments"] == item["arguments"] == final["arguments"]
    return deltas


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("fmt", FORMATS)
@examples(40)
@given(text=texts)
def test_the_text_goes_out_verbatim(fmt, stream, text):
    body = answer(text, fmt, stream)
    expected = re.sub(r"\r\n?", "\n", text) if fmt == "gemini" and stream else text
    assert received(fmt, stream, body, text) == expected


@pytest.mark.parametrize("fmt", FORMATS)
@examples(25)
@given(text=texts, data=st.data())
def test_an_output_cap_cuts_the_text_where_its_tokens_fall(fmt, text, data):
    """Only the formats that send a call in part show the cut text: a prefix, token for token."""
    wire = wire_for(fmt)
    sim = Simulator(scenario(text), [wire], time_scale=0)
    needed = count_tokens("Calling.") + count_tokens("f") + count_tokens(text)
    cap = data.draw(st.integers(count_tokens("Calling.f") + 1, needed + 1), label="cap")
    if fmt == "openai_responses":
        cap = max(cap, 16)
    body, route = request(fmt, False)
    body = {**body, **_cap(fmt, cap)}
    response = asyncio.run(sim.handle(wire, json.dumps(body).encode(), route))
    assert response.status_code == 200
    (record,) = sim.log
    assert record.output_tokens <= cap
    document = bytes(response.body).decode()
    if cap >= needed:  # the verbatim call went out whole; the plain call after it may not
        assert received(fmt, False, document, text) == text
        return
    assert record.truncated
    assert record.tool_calls == 0
    prefix = token_prefix(text, cap - count_tokens("Calling.f"))
    if fmt in ("anthropic", "gemini"):
        assert "f" not in [c.get("name") for c in _calls_anywhere(json.loads(document))]
    else:
        assert received(fmt, False, document, prefix) == prefix


def _cap(fmt: str, cap: int) -> dict[str, Any]:
    return {
        "anthropic": {"max_tokens": cap},
        "openai_chat": {"max_completion_tokens": cap},
        "openai_responses": {"max_output_tokens": cap},
        "gemini": {"generationConfig": {"maxOutputTokens": cap}},
    }[fmt]


def _calls_anywhere(document: dict[str, Any]) -> list[dict[str, Any]]:
    if "content" in document:
        return [b for b in document["content"] if b["type"] == "tool_use"]
    parts = document["candidates"][0]["content"].get("parts", [])
    return [p["functionCall"] for p in parts if "functionCall" in p]


def echoed(fmt: str, first: str, text: str, arguments: Any) -> list[Any]:
    """The history after the first response, the verbatim call echoed with ``arguments``.

    Anthropic and Gemini echo an object (whatever the client made of the text, ``{}`` if it
    could not parse it); OpenAI's formats echo a string (the text itself, or another).
    """
    results = ["r0", "r1"]
    if fmt == "openai_responses":
        items = json.loads(first)["output"]
        calls = [i for i in items if i["type"] == "function_call"]
        calls[0]["arguments"] = arguments
        outputs = [
            {"type": "function_call_output", "call_id": c["call_id"], "output": r}
            for c, r in zip(calls, results, strict=True)
        ]
        return [*items, *outputs]
    if fmt == "openai_chat":
        message = json.loads(first)["choices"][0]["message"]
        message["tool_calls"][0]["function"]["arguments"] = arguments
        answers = [
            {"role": "tool", "tool_call_id": c["id"], "content": r}
            for c, r in zip(message["tool_calls"], results, strict=True)
        ]
        return [message, *answers]
    if fmt == "anthropic":
        content = spliced(first, "input", text)["content"]
        content[1]["input"] = arguments
        answers = [
            {"type": "tool_result", "tool_use_id": b["id"], "content": r}
            for b, r in zip(content[1:], results, strict=True)
        ]
        return [{"role": "assistant", "content": content}, {"role": "user", "content": answers}]
    model = spliced(first, "args", text)["candidates"][0]["content"]
    model["parts"][1]["functionCall"]["args"] = arguments
    answers = [
        {"functionResponse": {"name": p["functionCall"]["name"], "response": {"output": r}}}
        for p, r in zip(model["parts"][1:], results, strict=True)
    ]
    return [model, {"role": "user", "parts": answers}]


def final_text(fmt: str, body: str) -> str:
    document = json.loads(body)
    if fmt == "anthropic":
        return str(document["content"][0]["text"])
    if fmt == "openai_chat":
        return str(document["choices"][0]["message"]["content"])
    if fmt == "openai_responses":
        return str(
            next(i for i in document["output"] if i["type"] == "message")["content"][0]["text"]
        )
    return str(document["candidates"][0]["content"]["parts"][0]["text"])


@pytest.mark.parametrize("fmt", FORMATS)
@examples(25)
@given(text=texts, data=st.data())
def test_a_conversation_replays_whatever_form_the_arguments_come_back_in(fmt, text, data):
    """The script's position never depends on echoed arguments (Gemini's signature included)."""
    forms = ["{}", text, '{"other": 1}'] if "openai" in fmt else [{}, {"other": 1}]
    arguments = data.draw(st.sampled_from(forms), label="echoed")
    sim = Simulator(scenario(text, final="got {result[0]} and {result[1]}"), [wire_for(fmt)])
    sim.time_scale = 0

    async def main() -> str:
        first = await exchange(sim, fmt, False)
        return await exchange(sim, fmt, False, tuple(echoed(fmt, first, text, arguments)))

    assert final_text(fmt, asyncio.run(main())) == "got r0 and r1"
    assert [(r.status, r.turn, r.tool_calls) for r in sim.log] == [(200, 0, 2), (200, 1, 0)]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        ({"name": "f", "arguments_text": 3}, r"calls\[0\]\.arguments_text: expected a string"),
        ({"name": "f", "arguments_text": None}, "arguments_text: expected a string"),
        ({"name": "f", "arguments": {}, "arguments_text": "{}"}, "not both"),
        ({"name": "f", "arguments_text": "\ud800"}, "lone surrogate at position 0"),
        ({"name": "f", "arguments_txt": "{}"}, "unknown field 'arguments_txt'"),
    ],
)
def test_a_bad_arguments_text_is_refused_naming_the_field(call, message):
    with pytest.raises(ScenarioError, match=message):
        Scenario.from_dict({"turns": [{"calls": [call]}]})


@given(text=st.text(st.characters(exclude_categories=["Cs"])))
def test_a_scenario_file_keeps_the_text_as_written(text):
    document = json.dumps({"turns": [{"calls": [{"name": "f", "arguments_text": text}]}]})
    (call,) = parse_scenario(document).turns[0].calls
    assert call == ScriptedCall("f", arguments_text=text)
    assert call.arguments == {}


characters = st.one_of(
    st.characters(), st.sampled_from(["\ud800", "\x1c", "\x85", "\xa0", "\u2028", "_", "é"])
)


@given(text=st.text(characters))
def test_token_counting_is_the_documented_rule(text):
    assert count_tokens(text) == len(TOKEN.findall(text))


@examples(50)
@given(text=st.text(st.sampled_from("ab,é\n[ _"), min_size=1500, max_size=6000))
def test_a_long_text_streams_in_a_bounded_number_of_fragments(text):
    pieces = split_tokens(text)
    assert "".join(p for p, _ in pieces) == text
    assert sum(n for _, n in pieces) == count_tokens(text)
    assert len(pieces) <= MAX_PIECES
    starts = {m.start() for m in TOKEN.finditer(text)}
    cuts = [len("".join(p for p, _ in pieces[:k])) for k in range(1, len(pieces))]
    assert set(cuts) <= starts  # a fragment never splits a token
    if count_tokens(text) > 3 * MAX_PIECES:
        assert len(pieces) > MAX_PIECES // 2


@pytest.mark.parametrize(
    "text", [MEGABYTE, json.dumps({"data": "é, ü; " * 170_000}, ensure_ascii=False)]
)
def test_a_megabyte_of_arguments_takes_the_simulator_well_under_a_second(text):
    """Measured on the simulator alone (no socket, no SDK): every format, plain and streamed."""
    spent = {}
    for fmt in FORMATS:
        for stream in (False, True):
            sim = Simulator(scenario(text), [wire_for(fmt)], time_scale=0)
            began = time.perf_counter()
            body = asyncio.run(exchange(sim, fmt, stream))
            spent[fmt, stream] = time.perf_counter() - began
            assert received(fmt, stream, body, text) == text
            assert sim.log[0].output_tokens == count_tokens("Calling.") + 2 + count_tokens(
                text
            ) + count_tokens('{"k": "<no result 0>"}')
    assert max(spent.values()) < 0.6, spent


@pytest.mark.parametrize("fmt", ["anthropic", "openai_chat", "openai_responses"])
@examples(25)
@given(text=texts, data=st.data())
def test_a_cut_stream_carries_a_prefix_of_the_text(fmt, text, data):
    """`cut_streams` stops a stream mid-arguments: what arrived is the start of the text."""
    sim = Simulator(scenario(text), [wire_for(fmt)], time_scale=0)
    whole = len(sse_data(asyncio.run(exchange(sim, fmt, True))))
    sim.cut_streams(data.draw(st.integers(0, whole), label="after"))
    body = asyncio.run(exchange(sim, fmt, True))
    events = [json.loads(d) for d in sse_data(body) if d != "[DONE]"]
    if fmt == "anthropic":
        kind, key = "content_block_delta", "partial_json"
        pieces = [e["delta"].get(key, "") for e in events if e["type"] == kind and e["index"] == 1]
    elif fmt == "openai_chat":
        pieces = [
            part["function"].get("arguments", "")
            for e in events
            for part in (e["choices"][0]["delta"].get("tool_calls", []) if e["choices"] else [])
            if part["index"] == 0
        ]
    else:
        calls = [
            e["item"]["id"] for e in events if e.get("item", {}).get("type") == "function_call"
        ]
        pieces = [
            e["delta"]
            for e in events
            if e["type"] == "response.function_call_arguments.delta" and e["item_id"] in calls[:1]
        ]
    assert text.startswith("".join(pieces))
    assert sim.log[-1].cut is not None
