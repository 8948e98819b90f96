"""Model strings: `anthropic:claude-sonnet-4-6` to an adapter, importing only what is used."""

from __future__ import annotations

import importlib
import re
from typing import Any

from .._errors import ConfigurationError
from ._base import Provider

__all__ = ["parse_compatible", "resolve"]

# prefix -> (module, class); each module imports its SDK only when an adapter is made.
_ADAPTERS = {
    "anthropic": ("volley.providers.anthropic", "AnthropicProvider"),
    "openai": ("volley.providers.openai_chat", "OpenAIChatProvider"),
    "openai-responses": ("volley.providers.openai_responses", "OpenAIResponsesProvider"),
    "gemini": ("volley.providers.gemini", "GeminiProvider"),
}

_COMPATIBLE = "openai-compatible"
_EXAMPLE = "e.g. openai-compatible:http://localhost:11434/v1:llama3.1:8b"

# scheme://host[:port][/path] then `:` then the model. The host is a name or an address without
# colons, or a bracketed IPv6 address; digits right after the host's colon are its port (taken
# whole, never given back to the model); the path runs to the first colon. The model is the rest,
# colons and slashes included (Ollama's `llama3.1:8b`, vLLM's `meta-llama/Llama-3.1-8B`).
_COMPATIBLE_REST = re.compile(
    r"""
    (?P<base_url>
        (?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://
        (?:\[[0-9A-Fa-f:.]+\]|[^\s:/?#@\[\]]+)
        (?::(?P<port>[0-9]++)(?=[/:]|\Z))?+
        (?:/[^\s:?#]*)?
    )
    (?::(?P<model>.*))?
    """,
    re.VERBOSE | re.DOTALL,
)
_ENDS_IN_PORT = re.compile(r":[0-9]+\Z")  # a path holds no colon: this is the port


def resolve(model: str | Provider, **options: Any) -> Provider:
    """The adapter for `model`: a `provider:model` string, or an adapter (returned as it is).

    `openai-compatible:<base_url>:<model>` reaches any OpenAI-compatible server (vLLM,
    llama.cpp, Ollama), e.g. `openai-compatible:http://localhost:11434/v1:llama3.1:8b`: the base
    URL is `scheme://host[:port][/path]` and ends at the first colon after its host, port and
    path; the model is everything after that colon (see `parse_compatible`).

    Raises:
        ConfigurationError: the string names no known provider, or no model, or (from the
            adapter) the provider's API key is not set.
        ImportError: the provider's SDK is not installed (the message names the extra).
    """
    if not isinstance(model, str):
        return model
    prefix, sep, rest = model.partition(":")
    if prefix == _COMPATIBLE:
        base_url, rest = parse_compatible(model)
        options = {"base_url": base_url, "provider": _COMPATIBLE, **options}
        prefix = "openai"
    if not sep or prefix not in _ADAPTERS:
        known = ", ".join([*sorted(_ADAPTERS), _COMPATIBLE])
        raise ConfigurationError(
            f"{model!r}: write <provider>:<model>, with a provider among {known}"
        )
    if not rest.strip():
        raise ConfigurationError(
            f"{model!r} names no model: write <provider>:<model>, e.g. anthropic:claude-sonnet-4-6"
        )
    module, name = _ADAPTERS[prefix]
    adapter: Provider = getattr(importlib.import_module(module), name)(rest, **options)
    return adapter


def parse_compatible(model: str) -> tuple[str, str]:
    """`openai-compatible:<base_url>:<model>` as `(base_url, model)`.

    The base URL is `http(s)://host[:port][/path]`, where the host is a name, an IPv4 address or
    a bracketed IPv6 address and the path holds no colon; it ends at the first colon after them,
    and the model is everything after that colon, colons included:
    `openai-compatible:http://localhost:11434/v1:llama3.1:8b` is the model `llama3.1:8b` at
    `http://localhost:11434/v1`. Digits right after the host are always its port, so a model whose
    name is only digits needs the port written out (`http://host:80:7`). A base URL holds no user,
    password, query or fragment (pass `client=` for a server that needs them).

    Raises:
        ConfigurationError: not of that form; the message says which part is missing.
    """
    prefix, _, rest = model.partition(":")
    if prefix != _COMPATIBLE:
        raise ConfigurationError(f"{model!r}: write {_COMPATIBLE}:<base_url>:<model>, {_EXAMPLE}")
    found = _COMPATIBLE_REST.match(rest)
    if found is None and rest.lower().startswith(("http://", "https://")):
        raise ConfigurationError(
            f"{model!r}: the base URL has no host (a name, an address or a [bracketed] IPv6 "
            f"address): write {_COMPATIBLE}:<base_url>:<model>, {_EXAMPLE}"
        )
    if found is None or found["scheme"].lower() not in ("http", "https"):
        raise ConfigurationError(
            f"{model!r}: write {_COMPATIBLE}:<base_url>:<model> with an http:// or https:// "
            f"base URL, {_EXAMPLE}"
        )
    base_url, name = found["base_url"], found["model"]
    if found["port"] is not None and int(found["port"]) > 65535:
        raise ConfigurationError(f"{model!r}: the port {found['port']} is past 65535")
    if name is None and found.end() == len(rest):
        port = " (the digits after its host are its port)" if _ENDS_IN_PORT.search(base_url) else ""
        raise ConfigurationError(
            f"{model!r} names no model after the base URL {base_url}{port}: write "
            f"{_COMPATIBLE}:<base_url>:<model>, {_EXAMPLE}"
        )
    if name is None:
        unexpected = rest[found.end()]
        raise ConfigurationError(
            f"{model!r}: the base URL {base_url} is followed by {unexpected!r}, not by "
            f"':<model>' (a base URL holds no query, fragment or user): write "
            f"{_COMPATIBLE}:<base_url>:<model>, {_EXAMPLE}"
        )
    if not name.strip():
        raise ConfigurationError(
            f"{model!r} names no model after the base URL {base_url}: write "
            f"{_COMPATIBLE}:<base_url>:<model>, {_EXAMPLE}"
        )
    return base_url, name
