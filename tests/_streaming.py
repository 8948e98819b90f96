"""Helpers for the stream assembler tests: simulator streams as events, re-splitting, checks."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from typing import Any

import httpx2
import pydantic
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
)
from volley.providers.streams import CallComplete, StreamError, TextDelta, TurnEnd
from volley.sim import SimServer
from volley.sim._script import EmittedCall, Reply

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=6,
)
emitted_calls = st.builds(
    EmittedCall,
    id=st.from_regex(r"[a-z0-9]{8}", fullmatch=True),
    name=st.from_regex(r"[a-zA-Z0-9_-]{1,12}", fullmatch=True),
    arguments=st.dictionaries(st.text(max_size=5), json_values, max_size=3),
)
replies = st.builds(
    Reply,
    text=st.text(max_size=20),
    calls=st.lists(emitted_calls, max_size=4, unique_by=lambda c: c.id).map(tuple),
    turn=st.just(0),
).filter(lambda r: bool(r.text or r.calls))


async def sim_stream(fmt: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The first scripted turn of SCENARIO from the simulator: streamed events and plain JSON."""
    if fmt == "anthropic":
        body: dict[str, Any] = {
            "model": "sim",
            "max_tokens": 1024,
            "tools": TOOLS,
            "messages": [{"role": "user", "content": "Weather and time?"}],
        }
    elif fmt == "openai_chat":
        body = {
            "model": "sim",
            "tools": openai_tools(),
            "messages": [{"role": "user", "content": "Weather and time?"}],
        }
    elif fmt == "openai_responses":
        body = {"model": "sim", "tools": responses_tools(), "input": "Weather and time?"}
        body["input"] = [{"role": "user", "content": "Weather and time?"}]
    else:
        body = {"tools": gemini_tools(), "contents": [{"role": "user", "parts": [{"text": "W?"}]}]}
    async with (
        SimServer(SCENARIO, time_scale=0) as sim,
        httpx2.AsyncClient(base_url=sim.base_url) as client,
    ):
        if fmt == "gemini":
            streamed = await client.post(gemini_path(True), json=body)
            plain = await client.post(gemini_path(False), json=body)
        else:
            extra = {"stream_options": {"include_usage": True}} if fmt == "openai_chat" else {}
            streamed = await client.post(PATHS[fmt], json={**body, "stream": True, **extra})
            plain = await client.post(PATHS[fmt], json=body)
    assert streamed.status_code == plain.status_code == 200
    events = [json.loads(data) for _, data in parse_sse(streamed.text) if data != "[DONE]"]
    return events, plain.json()


def as_sdk(kind: Any, events: list[dict[str, Any]]) -> list[Any]:
    """The events as the SDK's own objects (what its raw stream yields)."""
    adapter = pydantic.TypeAdapter(kind)
    return [adapter.validate_python(e) for e in events]


def run(assembler: Any, events: list[Any]) -> list[tuple[int, Any]]:
    """Feed every event; (position of the event that produced it, neutral event)."""
    out = []
    for k, event in enumerate(events):
        out.extend((k, neutral) for neutral in assembler.feed(event))
    return out


def completed(out: list[tuple[int, Any]]) -> list[Any]:
    return [e.call for _, e in out if isinstance(e, CallComplete)]


def check_neutral_stream(out: list[tuple[int, Any]]) -> None:
    """Indexes count up from 0, at most one TurnEnd and nothing after it."""
    calls = [e for _, e in out if isinstance(e, CallComplete)]
    assert [c.index for c in calls] == list(range(len(calls)))
    ends = [k for k, (_, e) in enumerate(out) if isinstance(e, TurnEnd)]
    assert len(ends) <= 1
    if ends:
        assert ends[0] == len(out) - 1
    assert all(isinstance(e, (CallComplete, TextDelta, TurnEnd)) for _, e in out)


def parsed(arguments: Any) -> Any:
    return json.loads(arguments) if isinstance(arguments, str) else dict(arguments)


def same_calls(got: Any, expected: Any, *, ids: bool = True) -> None:
    assert [c.name for c in got] == [c.name for c in expected]
    assert [parsed(c.arguments) for c in got] == [parsed(c.arguments) for c in expected]
    if ids:
        assert [c.id for c in got] == [c.id for c in expected]


def pieces(data: st.DataObject, text: str) -> list[str]:
    """`text` cut at arbitrary points, empty pieces included."""
    cuts = sorted(data.draw(st.lists(st.integers(0, len(text)), max_size=6)))
    bounds = [0, *cuts, len(text)]
    return [text[a:b] for a, b in itertools.pairwise(bounds)]


def resplit(
    events: list[dict[str, Any]],
    key: Callable[[dict[str, Any]], object],
    text: Callable[[dict[str, Any]], str],
    make: Callable[[dict[str, Any], str], dict[str, Any]],
    data: st.DataObject,
) -> list[dict[str, Any]]:
    """Each run of fragment events (same non-None `key`) replaced by the same text re-split."""
    out: list[dict[str, Any]] = []
    k = 0
    while k < len(events):
        group = key(events[k])
        if group is None:
            out.append(events[k])
            k += 1
            continue
        run_ = []
        while k < len(events) and key(events[k]) == group:
            run_.append(events[k])
            k += 1
        whole = "".join(text(e) for e in run_)
        out.extend(make(run_[0], piece) for piece in pieces(data, whole))
    return out


def feed_garbage(assembler: Any, events: list[Any]) -> None:
    """Feed until the end or a StreamError; any other exception fails the test."""
    try:
        for event in events:
            result = assembler.feed(event)
            assert isinstance(result, list)
        assembler.finish()
        assembler.incomplete()
    except StreamError as exc:
        message = str(exc)
    else:
        return
    assert message


garbage_dicts = st.dictionaries(
    st.text(max_size=8), json_values, max_size=4
) | st.fixed_dictionaries(
    {"type": st.text(max_size=30)}, optional={"index": json_values, "delta": json_values}
)
