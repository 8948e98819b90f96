"""The four adapters, each pointed at a simulator through its official SDK, and their closing."""

from __future__ import annotations

from anthropic import AsyncAnthropic
from google import genai
from google.genai import types
from openai import AsyncOpenAI

from volley.providers import Provider
from volley.providers.anthropic import AnthropicProvider
from volley.providers.gemini import GeminiProvider
from volley.providers.openai_chat import OpenAIChatProvider
from volley.providers.openai_responses import OpenAIResponsesProvider
from volley.sim import SimServer


def anthropic(sim: SimServer) -> AnthropicProvider:
    client = AsyncAnthropic(base_url=sim.base_url, api_key="test", max_retries=0)
    return AnthropicProvider("claude-sim", client=client)


def openai_chat(sim: SimServer) -> OpenAIChatProvider:
    client = AsyncOpenAI(base_url=sim.base_url + "/v1", api_key="test", max_retries=0)
    return OpenAIChatProvider("gpt-sim", client=client)


def openai_responses(sim: SimServer) -> OpenAIResponsesProvider:
    client = AsyncOpenAI(base_url=sim.base_url + "/v1", api_key="test", max_retries=0)
    return OpenAIResponsesProvider("gpt-sim", client=client)


def gemini(sim: SimServer) -> GeminiProvider:
    client = genai.Client(api_key="test", http_options=types.HttpOptions(base_url=sim.base_url))
    return GeminiProvider("gemini-sim", client=client)


ADAPTERS = [anthropic, openai_chat, openai_responses, gemini]


async def close(provider: Provider) -> None:
    """Close the SDK client a test passed in (the adapter leaves a client it was given open)."""
    if isinstance(provider, GeminiProvider):
        await provider.client.aio.aclose()
    else:
        assert isinstance(
            provider, AnthropicProvider | OpenAIChatProvider | OpenAIResponsesProvider
        )
        await provider.client.close()
