"""The Gemini adapter through the real SDK client, on the SDK's own mock transport."""

from __future__ import annotations

import base64
import sys
from typing import Any

import pytest
from _mockapi import MockAPI
from _tools import play
from _vtime import vrun
from google import genai
from google.genai import types

from volley import Agent, tool
from volley.providers import ProviderError
from volley.providers.gemini import GeminiProvider


@tool(effects="read")
async def get_weather(city: str) -> str:
    return f"Sunny in {city}"


@tool(effects="read")
async def get_time(city: str) -> str:
    raise ConnectionError("time service down")


SIGNATURE = base64.b64encode(b"signed-thought").decode()


def response(parts: list[dict[str, Any]], tokens: int = 10) -> dict[str, Any]:
    return {
        "candidates": [{"content": {"role": "model", "parts": parts}, "finishReason": "STOP"}],
        "usageMetadata": {"promptTokenCount": tokens, "candidatesTokenCount": 5},
        "modelVersion": "gemini-test",
    }


class Server(MockAPI):
    def provider(self) -> GeminiProvider:
        options = types.HttpOptions(base_url="http://gemini.test", async_client_args={})
        options.httpx_async_client = self.http_client()
        return GeminiProvider("gemini-test", client=genai.Client(api_key="x", http_options=options))


def test_a_parallel_turn_is_answered_in_one_content_with_signatures_kept() -> None:
    server = Server(
        (
            200,
            response(
                [
                    {
                        "functionCall": {"name": "get_weather", "args": {"city": "Paris"}},
                        "thoughtSignature": SIGNATURE,
                    },
                    {"functionCall": {"id": "g2", "name": "get_time", "args": {"city": "Tokyo"}}},
                    {"functionCall": {"name": "spotify_play", "args": {"artist": "Muse"}}},
                ]
            ),
        ),
        (200, response([{"text": "Done."}], tokens=40)),
    )
    agent = Agent(
        server.provider(), [get_weather, get_time, play], instructions="Be brief.", streaming=False
    )
    result = vrun(lambda: agent.run("go"))

    assert result.output == "Done."
    assert result.stats.calls_per_turn == [3, 0]
    first, second = server.requests
    declared = first["tools"][0]["functionDeclarations"]
    assert [d["name"] for d in declared] == ["get_weather", "get_time", "spotify_play"]
    schema = declared[0].get("parametersJsonSchema") or declared[0]["parameters_json_schema"]
    assert schema["properties"]["city"] == {"type": "string"}  # standard JSON Schema, as is
    assert first["systemInstruction"]["parts"][0]["text"].startswith("Be brief.")
    model, answers = second["contents"][1:]
    assert model["parts"][0]["thoughtSignature"] == SIGNATURE
    responses = [p["functionResponse"] for p in answers["parts"]]
    assert answers["role"] == "user"
    assert [r["name"] for r in responses] == ["get_weather", "get_time", "spotify_play"]
    assert [r.get("id") for r in responses] == [
        None,
        "g2",
        None,
    ]  # ids only where the model gave one
    assert responses[0]["response"] == {"output": "Sunny in Paris"}
    assert "ConnectionError" in responses[1]["response"]["error"]
    assert responses[2]["response"] == {"output": "playing Muse"}


def test_a_rejected_request_is_raised_with_the_request_that_caused_it() -> None:
    error = {"error": {"code": 400, "message": "bad count", "status": "INVALID_ARGUMENT"}}
    server = Server((400, error))
    with pytest.raises(ProviderError, match=r"rejected the request \(400\)") as caught:
        vrun(lambda: Agent(server.provider(), [get_weather], streaming=False).run("hi"))
    assert caught.value.request["model"] == "gemini-test"


def test_a_missing_sdk_is_one_line_naming_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "google.genai", None)
    with pytest.raises(ImportError, match=r"pip install 'volley-tools\[gemini\]'"):
        GeminiProvider("gemini-test")
