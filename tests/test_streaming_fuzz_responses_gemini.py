"""Responses and Gemini stream assembly under re-split, regrouped, cut and garbage streams."""

from __future__ import annotations

import itertools
import json

import pytest
from _hyp import examples
from google.genai.types import GenerateContentResponse
from hypothesis import given
from hypothesis import strategies as st

from tests._streaming import (
    check_neutral_stream,
    completed,
    feed_garbage,
    garbage_dicts,
    json_values,
    pieces,
    replies,
    resplit,
    run,
)
from volley.providers._names import ToolNames
from volley.providers.gemini import LOCAL_ID_PREFIX
from volley.providers.streams import (
    CallComplete,
    GeminiAssembler,
    OpenAIResponsesAssembler,
    TextDelta,
    TurnEnd,
)
from volley.sim import Gemini, OpenAIResponses, SimRequest
from volley.sim._wire import Rendering, output_tokens

DELTAS = ("response.function_call_arguments.delta", "response.output_text.delta")


def _info(reply):
    return Rendering("resp_id1", 1700000000, 17, output_tokens(reply))


def responses_events(reply, *, reasoning=False):
    """The stream of ``reply``; ``reasoning`` opens it with a reasoning item and its summary."""
    request = SimRequest("m", True, (), None, 17, {"reasoning": {"summary": "auto"}})
    wire = OpenAIResponses(reasoning=reasoning)
    return [json.loads(e.data) for e in wire.events(request, reply, _info(reply))]


def gemini_events(reply, *, ids=False, signatures=True):
    request = SimRequest("m", True, (), None, 17, {})
    wire = Gemini(ids=ids, signatures=signatures)
    return [json.loads(e.data) for e in wire.events(request, reply, _info(reply))]


def gemini_plain(reply, *, ids=False, signatures=True):
    request = SimRequest("m", True, (), None, 17, {})
    return Gemini(ids=ids, signatures=signatures).response(request, reply, _info(reply))


def expected_calls(reply):
    return [(c.id, c.name, c.arguments_json) for c in reply.calls]


def got_calls(calls):
    return [(c.id, c.name, c.arguments) for c in calls]


def texts(out):
    return "".join(e.text for _, e in out if isinstance(e, TextDelta))


# --- OpenAI Responses -------------------------------------------------------------------------


def _delta_key(e):
    return (e["type"], e["item_id"]) if e["type"] in DELTAS else None


def _resplit_responses(events, data):
    return resplit(events, _delta_key, lambda e: e["delta"], lambda e, p: {**e, "delta": p}, data)


@examples(150)
@given(reply=replies, drop_arguments_done=st.booleans(), reasoning=st.booleans(), data=st.data())
def test_responses_resplit_fragments_give_the_same_calls(
    reply, drop_arguments_done, reasoning, data
):
    events = _resplit_responses(responses_events(reply, reasoning=reasoning), data)
    if drop_arguments_done:
        # Without `function_call_arguments.done`, the item's `output_item.done` completes it.
        events = [e for e in events if e["type"] != "response.function_call_arguments.done"]
    assembler = OpenAIResponsesAssembler(ToolNames([]))
    out = run(assembler, events)
    check_neutral_stream(out)
    assert texts(out) == reply.text
    assert got_calls(completed(out)) == expected_calls(reply)
    finishing = (
        "response.output_item.done"
        if drop_arguments_done
        else "response.function_call_arguments.done"
    )
    at = [k for k, e in out if isinstance(e, CallComplete)]
    assert [events[k]["type"] for k in at] == [finishing] * len(reply.calls)
    done_ids = [events[k].get("item_id") or events[k]["item"]["id"] for k in at]
    assert done_ids == ["fc_" + c.id for c in reply.calls]
    assert isinstance(out[-1][1], TurnEnd)
    turn = assembler.finish()
    assert turn.text == reply.text
    assert turn.calls == tuple(completed(out))
    assert turn.stop == ("tool_calls" if reply.calls else "end")
    assert assembler.incomplete() == []
    kinds = [i["type"] for i in turn.provider_data["responses_items"]]
    assert kinds == ["reasoning"] * reasoning + ["message"] * bool(reply.text) + [
        "function_call"
    ] * len(reply.calls)


def _per_item(events):
    """(head events, per output item event lists in output order, tail events)."""
    head = [e for e in events if e["type"] in ("response.created", "response.in_progress")]
    tail = [e for e in events if e["type"] == "response.completed"]
    items: dict[int, list[dict]] = {}
    for e in events:
        if "output_index" in e:
            items.setdefault(e["output_index"], []).append(e)
    return head, [items[k] for k in sorted(items)], tail


@examples(100)
@given(
    reply=replies.filter(lambda r: len(r.calls) >= 2),
    data=st.data(),
)
def test_responses_interleaved_calls(reply, data):
    """Items streamed concurrently: each item's own events stay in order, items added in order."""
    head, items, tail = _per_item(_resplit_responses(responses_events(reply), data))
    queues = [list(item) for item in items]
    merged: list[dict] = []
    added = 0  # items whose `output_item.added` was sent: only those may continue
    while any(queues):
        ready = [k for k, q in enumerate(queues) if q and k <= added]
        k = data.draw(st.sampled_from(ready))
        if k == added:
            added += 1
        merged.append(queues[k].pop(0))
    events = [*head, *merged, *tail]
    assembler = OpenAIResponsesAssembler(ToolNames([]))
    out = run(assembler, events)
    check_neutral_stream(out)
    assert texts(out) == reply.text
    # Calls come out in the order their arguments finished, each at its own `done` event.
    done_order = [
        e["item_id"] for e in events if e["type"] == "response.function_call_arguments.done"
    ]
    by_item = {"fc_" + c.id: (c.id, c.name, c.arguments_json) for c in reply.calls}
    assert got_calls(completed(out)) == [by_item[i] for i in done_order]
    at = [k for k, e in out if isinstance(e, CallComplete)]
    assert [events[k]["item_id"] for k in at] == done_order
    turn = assembler.finish()
    assert sorted(got_calls(turn.calls)) == sorted(expected_calls(reply))
    assert turn.text == reply.text
    assert assembler.incomplete() == []


@examples(150)
@given(
    reply=replies,
    tail=st.sampled_from(["none", "incomplete"]),
    reasoning=st.booleans(),
    data=st.data(),
)
def test_responses_truncated_call_is_never_emitted(reply, tail, reasoning, data):
    events = _resplit_responses(responses_events(reply, reasoning=reasoning), data)
    fragments = [
        k for k, e in enumerate(events) if e["type"] == "response.function_call_arguments.delta"
    ]
    if not fragments:
        return
    cut = data.draw(st.sampled_from(fragments))
    item_id = events[cut]["item_id"]
    (owner,) = [c for c in reply.calls if "fc_" + c.id == item_id]
    fed = events[: cut + 1]
    if tail == "incomplete":
        response = {
            **events[0]["response"],
            "status": "incomplete",
            "incomplete_details": {"reason": "max_output_tokens"},
        }
        fed.append({"type": "response.incomplete", "sequence_number": 9999, "response": response})
    assembler = OpenAIResponsesAssembler(ToolNames([]))
    out = run(assembler, fed)
    check_neutral_stream(out)
    before = reply.calls[: reply.calls.index(owner)]
    assert got_calls(completed(out)) == [(c.id, c.name, c.arguments_json) for c in before]
    assert owner.id not in [c.id for c in completed(out)]
    (missing,) = assembler.incomplete()
    sent = "".join(e["delta"] for e in fed if _delta_key(e) == (DELTAS[0], item_id))
    assert (missing.id, missing.name, missing.arguments) == (owner.id, owner.name, sent)
    assert owner.arguments_json.startswith(missing.arguments)
    turn = assembler.finish()
    assert owner.id not in [c.id for c in turn.calls]
    assert turn.calls == tuple(completed(out))
    assert turn.stop == ("max_tokens" if tail == "incomplete" else "other")
    assert any(isinstance(e, TurnEnd) for _, e in out) == (tail == "incomplete")


def _mangle(events, data):
    how = data.draw(st.sampled_from(["garbage", "shuffle", "drop", "duplicate", "insert"]))
    if how == "garbage":
        return data.draw(st.lists(garbage_dicts, min_size=1, max_size=5))
    if how == "shuffle":
        return data.draw(st.permutations(events))
    k = data.draw(st.integers(0, len(events) - 1))
    if how == "drop":
        return events[:k] + events[k + 1 :]
    if how == "duplicate":
        return [*events[: k + 1], events[k], *events[k + 1 :]]
    return [*events[:k], data.draw(garbage_dicts), *events[k:]]


def _responses_lookalikes(events):
    """Events of the stream's own types, with fields swapped for random JSON."""
    kinds = sorted({e["type"] for e in events})
    return st.builds(
        lambda kind, extra: {"type": kind, "sequence_number": 0, **extra},
        st.sampled_from(kinds),
        st.dictionaries(
            st.sampled_from(
                ["item_id", "output_index", "delta", "arguments", "item", "response", "text"]
            ),
            json_values,
            max_size=4,
        ),
    )


@examples(200)
@given(reply=replies, data=st.data())
def test_responses_garbage_raises_stream_error_only(reply, data):
    events = responses_events(reply)
    if data.draw(st.booleans()):
        fed = _mangle(events, data)
    else:
        k = data.draw(st.integers(0, len(events)))
        fed = [*events[:k], data.draw(_responses_lookalikes(events)), *events[k:]]
    feed_garbage(OpenAIResponsesAssembler(ToolNames([])), fed)


# --- Gemini -----------------------------------------------------------------------------------


def _regroup(events, data):
    """All the stream's parts (text re-split) in chunks of any size, the last one finishing."""
    first = events[0]
    parts = [p for e in events for p in e["candidates"][0]["content"]["parts"]]
    text = "".join(p["text"] for p in parts if "text" in p)
    calls = [p for p in parts if "functionCall" in p]
    split = [{"text": piece} for piece in pieces(data, text)] if text else []
    flat = split + calls
    cuts = sorted(data.draw(st.lists(st.integers(0, len(flat)), max_size=len(flat) + 2)))
    bounds = [0, *cuts, len(flat)]
    chunks = []
    for a, b in itertools.pairwise(bounds):
        candidate = {"content": {"role": "model", "parts": flat[a:b]}, "index": 0}
        chunks.append({**first, "candidates": [candidate]})
    chunks[-1]["candidates"][0]["finishReason"] = "STOP"
    return chunks


@examples(200)
@given(reply=replies, ids=st.booleans(), signatures=st.booleans(), data=st.data())
def test_gemini_any_grouping_gives_the_same_calls(reply, ids, signatures, data):
    chunks = _regroup(gemini_events(reply, ids=ids, signatures=signatures), data)
    assembler = GeminiAssembler(ToolNames([]))
    out = run(assembler, chunks)
    check_neutral_stream(out)
    calls = completed(out)
    assert [(c.name, c.arguments) for c in calls] == [(c.name, c.arguments) for c in reply.calls]
    if ids:
        assert [c.id for c in calls] == [c.id for c in reply.calls]
    else:
        assert all(c.id.startswith(LOCAL_ID_PREFIX) for c in calls)
        assert len({c.id for c in calls}) == len(calls)
    assert texts(out) == reply.text
    # each call comes out with the chunk that holds it
    at = [k for k, e in out if isinstance(e, CallComplete)]
    holders = [
        k
        for k, chunk in enumerate(chunks)
        for p in chunk["candidates"][0]["content"]["parts"]
        if "functionCall" in p
    ]
    assert at == holders
    assert isinstance(out[-1][1], TurnEnd)
    turn = assembler.finish()
    assert turn.text == reply.text
    assert turn.calls == tuple(calls)
    assert turn.stop == ("tool_calls" if reply.calls else "end")
    assert assembler.incomplete() == []
    plain = GenerateContentResponse.model_validate(
        gemini_plain(reply, ids=ids, signatures=signatures)
    )
    assert turn.provider_data["gemini_content"] == plain.candidates[0].content


_enum_values = (
    st.none() | st.sampled_from(["STOP", "MAX_TOKENS", "SAFETY", "BOGUS"]) | st.text(max_size=5)
)
"""Values for enum fields: strings only (an unknown one is a warning from the SDK, not an error)."""
_gemini_parts = st.dictionaries(
    st.sampled_from(["text", "thought", "functionCall", "thoughtSignature", "functionResponse"]),
    json_values
    | st.fixed_dictionaries(
        {}, optional={"name": json_values | st.text(max_size=4), "args": json_values}
    ),
    max_size=3,
)
_gemini_lookalikes = st.fixed_dictionaries(
    {},
    optional={
        "candidates": st.lists(
            st.fixed_dictionaries(
                {},
                optional={
                    "content": st.fixed_dictionaries(
                        {}, optional={"parts": st.lists(_gemini_parts, max_size=3)}
                    )
                    | json_values,
                    "finishReason": _enum_values,
                    "index": json_values,
                },
            ),
            max_size=2,
        )
        | json_values,
        "usageMetadata": st.fixed_dictionaries(
            {}, optional={"promptTokenCount": json_values, "candidatesTokenCount": json_values}
        )
        | json_values,
        "promptFeedback": st.fixed_dictionaries({}, optional={"blockReason": _enum_values})
        | json_values,
        "modelVersion": json_values,
    },
)


@pytest.mark.filterwarnings("ignore:(?s).* is not a valid:UserWarning")
@examples(200)
@given(reply=replies, data=st.data())
def test_gemini_garbage_raises_stream_error_only(reply, data):
    events = gemini_events(reply)
    if data.draw(st.booleans()):
        fed = _mangle(events, data)
    else:
        k = data.draw(st.integers(0, len(events)))
        fed = [*events[:k], *data.draw(st.lists(_gemini_lookalikes, min_size=1, max_size=3))]
    feed_garbage(GeminiAssembler(ToolNames([])), fed)


@pytest.mark.parametrize("value", [[], {}, 1, True])
@pytest.mark.parametrize("where", ["finishReason", "blockReason"])
def test_gemini_non_string_enum_value_raises_stream_error(value, where):
    if where == "finishReason":
        chunk = {"candidates": [{"finishReason": value}]}
    else:
        chunk = {"promptFeedback": {"blockReason": value}}
    feed_garbage(GeminiAssembler(ToolNames([])), [chunk])
