"""Model strings: `anthropic:claude-sonnet-4-6` to an adapter, importing only what is used."""

from __future__ import annotations

import importlib
from typing import Any

from ._base import Provider

__all__ = ["resolve"]

# prefix -> (module, class); each module imports its SDK only when an adapter is made.
_ADAPTERS = {
    "anthropic": ("volley.providers.anthropic", "AnthropicProvider"),
    "openai": ("volley.providers.openai_chat", "OpenAIChatProvider"),
    "openai-responses": ("volley.providers.openai_responses", "OpenAIResponsesProvider"),
    "gemini": ("volley.providers.gemini", "GeminiProvider"),
}


def resolve(model: str | Provider, **options: Any) -> Provider:
    """The adapter for `model`: a `provider:model` string, or an adapter (returned as it is).

    `openai-compatible:<base_url>:<model>` reaches any OpenAI-compatible server (vLLM,
    llama.cpp, Ollama), e.g. `openai-compatible:http://localhost:11434/v1:qwen3`.
    """
    if not isinstance(model, str):
        return model
    prefix, sep, rest = model.partition(":")
    if prefix == "openai-compatible":
        base_url, sep2, name = rest.rpartition(":")
        if not (sep2 and base_url and name):
            raise ValueError(
                f"{model!r}: write openai-compatible:<base_url>:<model>, "
                "e.g. openai-compatible:http://localhost:11434/v1:qwen3"
            )
        options = {"base_url": base_url, "provider": "openai-compatible", **options}
        prefix, rest = "openai", name
    if not sep or not rest or prefix not in _ADAPTERS:
        known = ", ".join([*sorted(_ADAPTERS), "openai-compatible"])
        raise ValueError(f"{model!r}: write <provider>:<model>, with a provider among {known}")
    module, name = _ADAPTERS[prefix]
    adapter: Provider = getattr(importlib.import_module(module), name)(rest, **options)
    return adapter
