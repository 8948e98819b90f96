"""SDK clients made from the environment, with a missing API key found before any request.

Each SDK finds its key in its own way and fails in its own way when there is none: the OpenAI
SDK and google-genai raise when the client is made, with their own wording; the Anthropic SDK
makes the client and fails only when a request is sent. An adapter that makes its own client
goes through here instead, so that a missing key is always a `ConfigurationError` naming the
variable to set, raised where the adapter is made. A client passed to an adapter is never
checked: it is the caller's.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from .._errors import ConfigurationError

if TYPE_CHECKING:
    from anthropic import AsyncAnthropic
    from google.genai import Client
    from openai import AsyncOpenAI

__all__ = ["PLACEHOLDER_KEY", "anthropic_client", "gemini_client", "openai_client"]

PLACEHOLDER_KEY = "no-key"
"""The key sent to an OpenAI-compatible server when `OPENAI_API_KEY` is not set: local servers
(Ollama, vLLM, llama.cpp) ignore the `Authorization` header, but the OpenAI SDK wants a key."""


def anthropic_client(name: str) -> AsyncAnthropic:
    """An `AsyncAnthropic` from the environment, which must hold some credential.

    The SDK reads `ANTHROPIC_API_KEY`, then `ANTHROPIC_AUTH_TOKEN`, then a credentials profile or
    workload identity federation; with none of them it would fail only at the first request.

    Raises:
        ConfigurationError: the SDK found no credential, or a profile it was told to use is
            missing or broken.
    """
    import anthropic

    try:
        client = anthropic.AsyncAnthropic()
    except anthropic.AnthropicError as exc:  # ANTHROPIC_PROFILE names a profile that is not there
        raise ConfigurationError(
            f"{_shown(name)}: the Anthropic SDK could not make a client: {_line(exc)}"
        ) from exc
    if client.api_key is None and client.auth_token is None and _no_credentials(client):
        raise ConfigurationError(
            f"{_shown(name)} needs an API key: set ANTHROPIC_API_KEY "
            "(the Anthropic SDK also accepts ANTHROPIC_AUTH_TOKEN)"
        )
    return client


def _no_credentials(client: object) -> bool:
    # `credentials` (profiles, federation) came with anthropic 2.x; older clients have none.
    return getattr(client, "credentials", None) is None


def openai_client(name: str, base_url: str | None) -> AsyncOpenAI:
    """An `AsyncOpenAI` from the environment; with `base_url`, a server that needs no key.

    With a `base_url` and no `OPENAI_API_KEY`, the client sends `PLACEHOLDER_KEY`, which a local
    server ignores; with `OPENAI_API_KEY` set, that key is sent.

    Raises:
        ConfigurationError: no `base_url` and no key (the SDK refused to make the client).
    """
    import openai

    key = os.environ.get("OPENAI_API_KEY") or None
    if key is None and base_url is not None:
        key = PLACEHOLDER_KEY
    try:
        return openai.AsyncOpenAI(api_key=key, base_url=base_url)
    except openai.OpenAIError as exc:
        if key is None:
            raise ConfigurationError(
                f"{_shown(name)} needs an API key: set OPENAI_API_KEY"
            ) from exc
        raise ConfigurationError(
            f"{_shown(name)}: the OpenAI SDK could not make a client: {_line(exc)}"
        ) from exc


def gemini_client(name: str) -> Client:
    """A `google.genai.Client` from the environment, for the Gemini API or for Vertex AI.

    The Gemini API wants `GEMINI_API_KEY` or `GOOGLE_API_KEY`; with `GOOGLE_GENAI_USE_VERTEXAI`
    (or `GOOGLE_GENAI_USE_ENTERPRISE`) set to true, the SDK uses Vertex AI instead: a project and
    location with application default credentials, or an API key. Both are the SDK's to read.

    Raises:
        ConfigurationError: the SDK refused to make the client for want of a key or credentials.
    """
    from google import genai
    from google.auth.exceptions import GoogleAuthError

    try:
        return genai.Client()
    except (ValueError, GoogleAuthError) as exc:
        vertex = _vertex_switch()
        if vertex is None:
            raise ConfigurationError(
                f"{_shown(name)} needs an API key: set GEMINI_API_KEY or GOOGLE_API_KEY"
            ) from exc
        raise ConfigurationError(
            f"{_shown(name)} on Vertex AI ({vertex} is set) has no credentials: set "
            "GOOGLE_CLOUD_PROJECT and GOOGLE_CLOUD_LOCATION with application default credentials "
            f"(gcloud auth application-default login), or GOOGLE_API_KEY; google-genai says: "
            f"{_line(exc)}"
        ) from exc


def _vertex_switch() -> str | None:
    """The variable that turns google-genai to Vertex AI, if one does (the SDK's precedence)."""
    for variable in ("GOOGLE_GENAI_USE_ENTERPRISE", "GOOGLE_GENAI_USE_VERTEXAI"):
        value = os.environ.get(variable)
        if value is not None:
            return variable if value.lower() in ("true", "1") else None
    return None


def _shown(name: str) -> str:
    """`name` for a one-line message: as it is, or quoted if it holds a newline or the like."""
    return name if name.isprintable() else repr(name)


def _line(exc: Exception) -> str:
    """An SDK's message on one line."""
    return " ".join(str(exc).split())
