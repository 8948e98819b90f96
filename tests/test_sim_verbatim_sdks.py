"""Verbatim arguments over loopback: a plain HTTP client reads them exactly, and so do the SDKs.

Each hostile text goes through a real `SimServer`, to ``httpx2`` as raw bytes and to each
official SDK through its volley adapter, plain and streamed. What an SDK can read depends on the
format: OpenAI's formats carry any text as a string; Anthropic's and Gemini's SDKs parse a body
whose arguments are spliced raw, so they can only read a text that is a JSON object.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx2
import pytest

from tests import _adapters
from tests._sim import PATHS, gemini_path
from tests.test_sim_verbatim import HOSTILE, received, request, scenario
from volley import ModelTurn, UserPrompt, tool
from volley.providers import ModelRequest
from volley.sim import AnthropicMessages, Gemini, OpenAIChat, OpenAIResponses, SimServer

TEXTS = [*HOSTILE, json.dumps({"data": "x" * 1_000_000})]  # a megabyte in a few tokens, under
# the output cap the Anthropic SDK allows without streaming
FORMATS = ["anthropic", "openai_chat", "openai_responses", "gemini"]
MISSING = object()


@tool(effects="read")
async def f(a: float = 0) -> str:
    return "f"


@tool(effects="read")
async def g(k: str = "") -> str:
    return "g"


def server(text: str) -> SimServer:
    formats = (AnthropicMessages(), OpenAIChat(), OpenAIResponses(reasoning=True), Gemini())
    return SimServer(scenario(text), time_scale=0, formats=formats)


def parsed(text: str) -> Any:
    """What a JSON parser makes of the text (``MISSING`` if it cannot)."""
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return MISSING


def same(a: Any, b: Any) -> bool:
    """Equal as JSON (``NaN`` equals ``NaN`` here, as the model wrote the same thing)."""
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


@pytest.mark.parametrize("text", TEXTS, ids=range(len(TEXTS)))
def test_a_plain_http_client_reads_the_text_exactly(text):
    async def main() -> dict[tuple[str, bool], str]:
        got = {}
        async with server(text) as sim, httpx2.AsyncClient(base_url=sim.base_url) as client:
            for fmt in FORMATS:
                for stream in (False, True):
                    body, _ = request(fmt, stream)
                    path = gemini_path(stream, "v1beta") if fmt == "gemini" else PATHS[fmt]
                    response = await client.post(path, json=body)
                    assert response.status_code == 200
                    got[fmt, stream] = received(fmt, stream, response.text, text)
        return got

    got = asyncio.run(main())
    lines = text.replace("\r\n", "\n").replace("\r", "\n")  # SSE data has no bare \r
    assert got == {(fmt, s): lines if (fmt, s) == ("gemini", True) else text for fmt, s in got}


def readable(fmt: str, stream: bool, text: str) -> bool:
    """Whether the SDK (and the adapter's own parsing of it) can read the text at all."""
    if fmt.startswith("openai"):
        return True
    if fmt == "anthropic" and stream:  # the SDK relays partial_json; the adapter parses it
        return text != "" and not _too_deep(text)  # (no fragment at all means no parameters)
    return isinstance(parsed(text), dict)  # the SDK parses the body, arguments and all


def _too_deep(text: str) -> bool:
    try:
        json.loads(text)
    except RecursionError:
        return True
    except ValueError:
        return False
    return False


async def first_turn(fmt: str, stream: bool, sim: SimServer) -> ModelTurn:
    adapter = getattr(_adapters, fmt)(sim)
    request = ModelRequest([UserPrompt("Call f, then g.")], [f, g], max_tokens=21_000)
    try:
        if stream:
            return [item async for item in adapter.stream(request)][-1]  # type: ignore[no-any-return]
        return await adapter.complete(request)
    finally:
        await _adapters.close(adapter)


@pytest.mark.parametrize("text", TEXTS, ids=range(len(TEXTS)))
def test_each_sdk_reads_the_text_where_it_can(text):
    combos = [(fmt, s) for fmt in FORMATS for s in (False, True) if readable(fmt, s, text)]

    async def main() -> list[ModelTurn]:
        async with server(text) as sim:
            return [await first_turn(fmt, stream, sim) for fmt, stream in combos]

    value = parsed(text)
    for (fmt, stream), turn in zip(combos, asyncio.run(main()), strict=True):
        arguments = turn.calls[0].arguments
        if fmt.startswith("openai"):
            assert arguments == text, (fmt, stream)
        elif isinstance(value, dict):
            assert same(dict(arguments), value), (fmt, stream)
        else:  # Anthropic's stream: text that is no JSON object reaches the call as it is
            assert arguments == text, (fmt, stream)
        assert turn.calls[0].name == "f"
