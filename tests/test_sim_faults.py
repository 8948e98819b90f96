"""Broken streams on demand: `SimServer.cut_streams`, seen through httpx2 and the official SDKs."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx2
import openai
import pytest
from _hyp import examples
from google import genai
from google.genai import types
from hypothesis import given
from hypothesis import strategies as st

from tests._sim import (
    PATHS,
    SCENARIO,
    TOOLS,
    gemini_path,
    gemini_tools,
    openai_tools,
    parse_sse,
    responses_tools,
    sim_in_thread,
)
from volley.sim import SimServer, StreamCut

FORMATS = ["anthropic", "openai_chat", "openai_responses", "gemini"]
ASK = [{"role": "user", "content": "Weather and time?"}]
BODIES: dict[str, dict[str, Any]] = {
    "anthropic": {"model": "sim", "max_tokens": 1024, "tools": TOOLS, "messages": ASK},
    "openai_chat": {"model": "sim", "tools": openai_tools(), "messages": ASK},
    "openai_responses": {"model": "sim", "tools": responses_tools(), "input": ASK},
    "gemini": {"tools": gemini_tools(), "contents": [{"role": "user", "parts": [{"text": "W?"}]}]},
}


def route(fmt: str, *, stream: bool) -> tuple[str, dict[str, Any]]:
    if fmt == "gemini":
        return gemini_path(stream), BODIES[fmt]
    return PATHS[fmt], {**BODIES[fmt], "stream": stream}


def events_of(client: httpx2.Client, fmt: str) -> list[str]:
    """Each event of one streamed answer: its name, or its data without ids; framing checked."""
    path, body = route(fmt, stream=True)
    response = client.post(path, json=body)
    assert response.status_code == 200
    return (
        [name or _sans_ids(data) for name, data in parse_sse(response.text)]
        if response.text
        else []
    )


def _sans_ids(data: str) -> str:
    if data == "[DONE]":
        return data
    value = {k: v for k, v in json.loads(data).items() if k not in ("id", "created", "responseId")}
    return json.dumps(value, sort_keys=True)


@pytest.fixture
def fresh() -> Iterator[SimServer]:
    """A simulator of its own, for a test that reads the whole request log."""
    with sim_in_thread(SCENARIO, time_scale=0) as server:
        yield server


@examples(60)
@given(fmt=st.sampled_from(FORMATS), after=st.integers(0, 40))
def test_a_clean_cut_sends_the_first_events_and_ends_the_response(sim, fmt, after):
    with httpx2.Client(base_url=sim.base_url) as client:
        whole = events_of(client, fmt)
        sim.cut_streams(after)
        path, body = route(fmt, stream=False)
        assert client.post(path, json=body).status_code == 200  # plain: never cut
        cut = events_of(client, fmt)
        again = events_of(client, fmt)
    assert cut == whole[:after]
    assert again == whole
    assert [r.cut for r in sim.log[-4:]] == [None, None, StreamCut(after), None]


@pytest.mark.parametrize("fmt", FORMATS)
def test_an_abrupt_cut_drops_the_connection_and_a_retry_succeeds(fresh, fmt):
    seen: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = seen.append  # type: ignore[method-assign]
    uvicorn_log = logging.getLogger("uvicorn.error")
    uvicorn_log.addHandler(handler)
    try:
        fresh.cut_streams(3, abrupt=True)
        path, body = route(fmt, stream=True)
        with httpx2.Client(base_url=fresh.base_url) as client:
            with client.stream("POST", path, json=body) as response:
                assert response.status_code == 200
                with pytest.raises(httpx2.RemoteProtocolError, match="incomplete chunked read"):
                    response.read()
            retried = client.post(path, json=body)
    finally:
        uvicorn_log.removeHandler(handler)
    assert retried.status_code == 200
    assert len(parse_sse(retried.text)) > 3
    assert [r.cut for r in fresh.log] == [StreamCut(3, abrupt=True), None]
    assert seen == []  # no "Exception in ASGI application" traceback


def test_cuts_queue_up_in_order(fresh):
    fresh.cut_streams(2, count=2)
    fresh.cut_streams(0, abrupt=True)
    with httpx2.Client(base_url=fresh.base_url) as client:
        assert len(events_of(client, "openai_chat")) == 2
        assert len(events_of(client, "anthropic")) == 2
        with pytest.raises(httpx2.RemoteProtocolError):
            events_of(client, "gemini")
        assert len(events_of(client, "gemini")) == 5
    assert [r.cut for r in fresh.log] == [
        StreamCut(2),
        StreamCut(2),
        StreamCut(0, abrupt=True),
        None,
    ]


def test_an_abrupt_cut_past_the_end_still_drops_the_connection(fresh):
    fresh.cut_streams(1000, abrupt=True)
    fresh.cut_streams(1000)
    with httpx2.Client(base_url=fresh.base_url) as client:
        with pytest.raises(httpx2.RemoteProtocolError):
            events_of(client, "anthropic")
        assert events_of(client, "anthropic")[-1] == "message_stop"


def test_bad_cuts_are_refused(fresh):
    with pytest.raises(ValueError, match=">= 0"):
        fresh.cut_streams(-1)
    with pytest.raises(ValueError, match=">= 0"):
        fresh.cut_streams(1, count=-1)


async def through_sdks(fresh: SimServer, *, abrupt: bool) -> dict[str, Any]:
    """Each SDK's streaming call against a stream cut after 4 events: its result or exception."""
    base = fresh.base_url
    claude = anthropic.AsyncAnthropic(base_url=base, api_key="x", max_retries=0)
    gpt = openai.AsyncOpenAI(base_url=base + "/v1", api_key="x", max_retries=0)
    gemini = genai.Client(api_key="x", http_options=types.HttpOptions(base_url=base))

    async def anthropic_raw() -> Any:
        stream = await claude.messages.create(**BODIES["anthropic"], stream=True)
        return [event.type async for event in stream]

    async def anthropic_helper() -> Any:
        async with claude.messages.stream(**BODIES["anthropic"]) as stream:
            return (await stream.get_final_message()).stop_reason

    async def chat_raw() -> Any:
        stream = await gpt.chat.completions.create(**BODIES["openai_chat"], stream=True)
        return [chunk.choices[0].finish_reason async for chunk in stream]

    async def responses_raw() -> Any:
        stream = await gpt.responses.create(**BODIES["openai_responses"], stream=True)
        return [event.type async for event in stream]

    async def responses_helper() -> Any:
        async with gpt.responses.stream(**BODIES["openai_responses"]) as stream:
            return (await stream.get_final_response()).status

    async def gemini_raw() -> Any:
        chunks = await gemini.aio.models.generate_content_stream(model="fresh", contents="W?")
        return [chunk.candidates[0].finish_reason async for chunk in chunks]

    calls = [anthropic_raw, anthropic_helper, chat_raw, responses_raw, responses_helper]
    outcomes: dict[str, Any] = {}
    try:
        for call in [*calls, gemini_raw]:
            fresh.cut_streams(4, abrupt=abrupt)
            try:
                outcomes[call.__name__] = await call()
            except Exception as exc:  # what each SDK lets through is the point of the test
                outcomes[call.__name__] = exc
    finally:
        await claude.close()
        await gpt.close()
        await gemini.aio.aclose()
    return outcomes


def sdk_outcomes(*, abrupt: bool) -> dict[str, Any]:
    async def main() -> dict[str, Any]:
        async with SimServer(SCENARIO, time_scale=0) as sim:
            return await through_sdks(sim, abrupt=abrupt)

    return asyncio.run(main())


def test_sdks_raise_on_a_dropped_connection():
    outcomes = sdk_outcomes(abrupt=True)
    kinds = {name: type(outcome) for name, outcome in outcomes.items()}
    assert kinds == {
        "anthropic_raw": httpx2.RemoteProtocolError,  # the Anthropic SDK lets httpx2's through
        "anthropic_helper": httpx2.RemoteProtocolError,
        "chat_raw": openai.APIConnectionError,  # the OpenAI SDK wraps it
        "responses_raw": openai.APIConnectionError,
        "responses_helper": openai.APIConnectionError,
        "gemini_raw": httpx2.RemoteProtocolError,
    }
    wrapped = outcomes["chat_raw"].__cause__
    assert isinstance(wrapped, httpx2.RemoteProtocolError)


def test_sdks_read_a_cleanly_cut_stream_as_one_that_just_ends():
    outcomes = sdk_outcomes(abrupt=False)
    assert outcomes["anthropic_raw"] == [
        "message_start",
        "content_block_start",
        "content_block_delta",  # the ping is not an SDK event
    ]
    assert outcomes["anthropic_helper"] is None  # no message_delta: no stop reason
    assert outcomes["chat_raw"] == [None] * 4  # no finish reason, no [DONE]
    assert outcomes["responses_raw"][-1] == "response.content_part.added"
    assert isinstance(outcomes["responses_helper"], RuntimeError)  # no response.completed
    assert outcomes["gemini_raw"] == [None] * 4  # no finish reason
