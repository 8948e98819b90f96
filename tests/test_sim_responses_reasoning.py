"""Responses reasoning items and message phases: what the simulator writes, and what it refuses.

With ``reasoning=True`` every response opens with a reasoning item, streamed with the real event
sequence; messages are labelled ``commentary`` (before calls) or ``final_answer``. Input items
are refused as the real API refuses them, with its 400 shape and wording: a reasoning item
without its required following item (a message rebuilt without its id is not it), a message of
a reasoning response without its reasoning item, ids of the wrong kind.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx2
import pydantic
import pytest
from _hyp import examples
from hypothesis import given
from hypothesis import strategies as st
from openai.types.responses import Response, ResponseStreamEvent

from tests._sim import SCENARIO, parse_sse, responses_tools
from tests.test_sim_streams import info, replies, request
from volley.sim import OpenAIResponses, SimServer
from volley.sim._script import EmittedCall, Reply
from volley.sim._truncate import truncate
from volley.sim._wire import SimRequest, output_tokens


def asking(**fields: Any) -> SimRequest:
    return SimRequest("m", True, (), None, 17, fields)


def assemble(stream: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The output items a stream builds (summary parts included) and its final response."""
    events = [json.loads(data) for _, data in parse_sse(stream)]
    pydantic.TypeAdapter(list[ResponseStreamEvent]).validate_python(events)
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    output: list[dict[str, Any]] = []
    for event in events[2:-1]:
        kind = event["type"]
        if kind == "response.output_item.added":
            output.append(event["item"])
            continue
        item = output[event["output_index"]]
        assert event.get("item_id", item["id"]) == item["id"]
        if kind == "response.reasoning_summary_part.added":
            assert event["summary_index"] == len(item["summary"])
            item["summary"].append(event["part"])
        elif kind == "response.reasoning_summary_text.delta":
            item["summary"][event["summary_index"]]["text"] += event["delta"]
        elif kind in (
            "response.reasoning_summary_text.done",
            "response.reasoning_summary_part.done",
        ):
            part = item["summary"][event["summary_index"]]
            assert part["text"] == event.get("text", event.get("part", {}).get("text"))
        elif kind == "response.content_part.added":
            item["content"].append(event["part"])
        elif kind == "response.output_text.delta":
            item["content"][event["content_index"]]["text"] += event["delta"]
        elif kind == "response.function_call_arguments.delta":
            item["arguments"] += event["delta"]
        elif kind == "response.output_item.done":
            # the done item is the one built, whole (a reasoning item gets its blob only here)
            done = event["item"]
            assert {k: v for k, v in done.items() if k not in ("status", "encrypted_content")} == {
                k: v for k, v in item.items() if k != "status"
            }
            output[event["output_index"]] = done
    return output, events[-1]["response"]


summarised = st.fixed_dictionaries(
    {},
    optional={
        "reasoning": st.sampled_from([{"summary": "auto"}, {"summary": "detailed"}, {}]),
        "include": st.sampled_from([["reasoning.encrypted_content"], []]),
    },
)


@examples(100)
@given(reply=replies, body=summarised, data=st.data())
def test_a_reasoning_response_opens_with_its_reasoning_item_streamed_or_not(reply, body, data):
    wire = OpenAIResponses(reasoning=True)
    cut = truncate(reply, data.draw(st.integers(16, output_tokens(reply) + 16), label="cap"))
    req = asking(**body)
    plain = wire.response(req, cut, info(cut))
    Response.model_validate(plain)
    streamed, final = assemble(
        b"".join(e.encode() for e in wire.events(req, cut, info(cut))).decode()
    )
    assert final == plain
    if cut.cut_call is None:
        assert streamed == plain["output"]
    reasoning, *rest = plain["output"]
    assert reasoning["type"] == "reasoning"
    assert reasoning["id"] == "rs_" + plain["id"].removeprefix("resp_")
    assert bool(reasoning["summary"]) == (body.get("reasoning", {}).get("summary") is not None)
    assert ("encrypted_content" in reasoning) == bool(body.get("include"))
    assert [i["type"] for i in rest] == ["message"] * bool(cut.text) + ["function_call"] * (
        len(cut.calls) + (cut.cut_call is not None)
    )
    assert plain["usage"]["output_tokens"] == output_tokens(cut)  # reasoning costs nothing here


@examples(100)
@given(reply=replies, makes_calls=st.booleans(), phases=st.booleans())
def test_a_message_is_commentary_before_calls_and_a_final_answer_otherwise(
    reply, makes_calls, phases
):
    reply = Reply(reply.text, reply.calls, 0, makes_calls=makes_calls or bool(reply.calls))
    wire = OpenAIResponses(phases=phases)
    messages = [
        i for i in wire.response(request(), reply, info(reply))["output"] if i["type"] == "message"
    ]
    assert len(messages) == bool(reply.text)
    for message in messages:
        expected = "commentary" if reply.makes_calls else "final_answer"
        assert message.get("phase") == (expected if phases else None)


def test_text_cut_before_its_calls_is_still_commentary():
    calls = (EmittedCall("call_1", "f", {}),)
    cut = truncate(Reply("I will look this up for you now.", calls, 0, makes_calls=True), 3)
    assert (cut.calls, cut.truncated) == ((), True)
    (message,) = OpenAIResponses().response(request(), cut, info(cut))["output"]
    assert (message["status"], message["phase"]) == ("incomplete", "commentary")


REASONING = {"type": "reasoning", "id": "rs_1", "summary": []}
MESSAGE = {
    "type": "message",
    "id": "msg_1",
    "role": "assistant",
    "status": "completed",
    "content": [{"type": "output_text", "text": "Looking.", "annotations": []}],
    "phase": "commentary",
}
CALL = {
    "type": "function_call",
    "id": "fc_1",
    "call_id": "call_1",
    "name": "get_time",
    "arguments": "{}",
}
OUTPUT = {"type": "function_call_output", "call_id": "call_1", "output": "noon"}
USER = {"role": "user", "content": "What time is it?"}
ORPHAN = "Item 'rs_1' of type 'reasoning' was provided without its required following item."

ACCEPTED = {
    "reasoning then its message": [USER, REASONING, MESSAGE, CALL, OUTPUT],
    "reasoning then its call": [USER, REASONING, CALL, OUTPUT],
    "reasoning then a message without phase": [USER, REASONING, {**MESSAGE, "phase": None}],
    "no reasoning, rebuilt message": [USER, {"role": "assistant", "content": "Looking."}],
}
REFUSED = {
    "old rebuild after reasoning": (
        [USER, REASONING, {"role": "assistant", "content": "Looking."}, CALL, OUTPUT],
        ORPHAN,
    ),
    "message item without its id": (
        [USER, REASONING, {k: v for k, v in MESSAGE.items() if k != "id"}, CALL, OUTPUT],
        ORPHAN,
    ),
    "reasoning last": ([USER, REASONING], ORPHAN),
    "reasoning then the user": ([USER, REASONING, USER], ORPHAN),
    "two reasonings": ([USER, REASONING, {**REASONING, "id": "rs_2"}, CALL, OUTPUT], ORPHAN),
    "id-less reasoning last": (
        [USER, {"type": "reasoning", "summary": []}],
        "Item of type 'reasoning' was provided without its required following item.",
    ),
    "call id where the item id goes": (
        [USER, {**CALL, "id": "call_1"}, OUTPUT],
        "Invalid 'input[1].id': 'call_1'. Expected an ID that begins with 'fc'.",
    ),
    "reasoning id on a message": (
        [USER, {**MESSAGE, "id": "rs_9"}],
        "Invalid 'input[1].id': 'rs_9'. Expected an ID that begins with 'msg'.",
    ),
    "unknown phase": ([USER, {**MESSAGE, "phase": "final"}], "Supported values are: 'commentary'"),
    "reasoning without summary": (
        [USER, {"type": "reasoning", "id": "rs_1"}, CALL, OUTPUT],
        "summary",
    ),
}


def post(sim: SimServer, items: list[Any]) -> httpx2.Response:
    async def main() -> httpx2.Response:
        async with httpx2.AsyncClient(base_url=sim.base_url) as client:
            body = {"model": "m", "tools": responses_tools(), "input": items}
            return await client.post("/v1/responses", json=body)

    return asyncio.run(main())


@pytest.mark.parametrize("case", list(ACCEPTED))
def test_items_echoed_as_they_came_are_accepted(sim, case):
    response = post(sim, ACCEPTED[case])
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("case", list(REFUSED))
def test_what_the_api_refuses_is_refused_in_its_words(sim, case):
    items, message = REFUSED[case]
    response = post(sim, items)
    assert response.status_code == 400
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "invalid_request_error"
    if message.endswith("."):
        assert error["message"] == message
    else:
        assert message in error["message"]
    if "reasoning" in message and "'" in message:
        assert (error["param"], error["code"]) == ("input", None)


def test_a_reasoning_simulator_wants_its_message_after_its_reasoning_item():
    """Dropping the reasoning item but keeping the message's id is refused the other way round."""

    async def main() -> tuple[httpx2.Response, httpx2.Response]:
        wire = OpenAIResponses(reasoning=True)
        async with (
            SimServer(SCENARIO, time_scale=0, formats=[wire]) as sim,
            httpx2.AsyncClient(base_url=sim.base_url) as client,
        ):
            body = {"model": "m", "tools": responses_tools(), "input": [USER]}
            first = (await client.post("/v1/responses", json=body)).json()["output"]
            outputs = [
                {"type": "function_call_output", "call_id": i["call_id"], "output": "ok"}
                for i in first
                if i["type"] == "function_call"
            ]
            whole = {**body, "input": [USER, *first, *outputs]}
            dropped = {**body, "input": [USER, *first[1:], *outputs]}
            return (
                await client.post("/v1/responses", json=whole),
                await client.post("/v1/responses", json=dropped),
            )

    whole, dropped = asyncio.run(main())
    assert whole.status_code == 200, whole.text
    assert dropped.status_code == 400
    (message,) = [i for i in whole.json()["output"] if i["type"] == "message"]
    suffix = message["id"].removeprefix("msg_")
    assert message["phase"] == "final_answer"
    first_suffix = f"sim{1:021d}"
    assert dropped.json()["error"]["message"] == (
        f"Item 'msg_{first_suffix}' of type 'message' was provided without its required "
        f"'reasoning' item: 'rs_{first_suffix}'."
    )
    assert suffix != first_suffix
