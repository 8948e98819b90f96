"""A missing API key is a `ConfigurationError` naming the variable, raised when the adapter is made.

Each adapter that makes its own SDK client is made if and only if one of the variables its SDK
reads is set; a client passed in is never checked. Nothing here sends a request.
"""

from __future__ import annotations

import pytest
from _hyp import examples
from anthropic import AsyncAnthropic
from google import genai
from hypothesis import given
from hypothesis import strategies as st
from openai import AsyncOpenAI

from volley import ConfigurationError
from volley.providers import Provider, resolve
from volley.providers._credentials import PLACEHOLDER_KEY
from volley.providers.anthropic import AnthropicProvider
from volley.providers.gemini import GeminiProvider
from volley.providers.openai_chat import OpenAIChatProvider
from volley.providers.openai_responses import OpenAIResponsesProvider

KEYS = {
    "anthropic:claude-sonnet-4-6": ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN"),
    "openai:gpt-5.4": ("OPENAI_API_KEY",),
    "openai-responses:gpt-5.4": ("OPENAI_API_KEY",),
    "gemini:gemini-3.1-pro": ("GEMINI_API_KEY", "GOOGLE_API_KEY"),
}
"""Model string -> the variables any one of which lets its SDK make a client."""
EVERY_KEY = sorted({name for names in KEYS.values() for name in names})


@examples(50)
@given(
    model=st.sampled_from(sorted(KEYS)),
    env=st.dictionaries(st.sampled_from(EVERY_KEY), st.sampled_from(["", "k-1"]), max_size=4),
)
def test_an_adapter_is_made_if_and_only_if_its_sdk_has_a_key(
    no_keys: pytest.MonkeyPatch, model: str, env: dict[str, str]
) -> None:
    for name in EVERY_KEY:
        no_keys.delenv(name, raising=False)
    for name, value in env.items():
        no_keys.setenv(name, value)
    has_key = any(env.get(name) for name in KEYS[model])  # an empty value is no key
    outcome = made_or_refused(model)
    if isinstance(outcome, ConfigurationError):
        assert not has_key, outcome
        message = str(outcome)
        assert "\n" not in message
        assert message.startswith(f"{model} needs an API key: set {KEYS[model][0]}")
        assert all(name in message for name in KEYS[model])
    else:
        assert has_key
        assert outcome.name == model


def made_or_refused(model: str) -> Provider | ConfigurationError:
    try:
        return resolve(model)
    except ConfigurationError as exc:
        return exc


def test_a_client_passed_in_is_never_checked(no_keys: pytest.MonkeyPatch) -> None:
    anthropic = AsyncAnthropic(api_key="k")
    openai = AsyncOpenAI(api_key="k")
    gemini = genai.Client(api_key="k")
    assert AnthropicProvider("m", client=anthropic).client is anthropic
    assert OpenAIChatProvider("m", client=openai).client is openai
    assert OpenAIResponsesProvider("m", client=openai).client is openai
    assert GeminiProvider("m", client=gemini).client is gemini


def test_anthropic_credentials_other_than_a_key_count(no_keys: pytest.MonkeyPatch) -> None:
    # Workload identity federation: the SDK exchanges the token at the first request.
    no_keys.setenv("ANTHROPIC_FEDERATION_RULE_ID", "rule")
    no_keys.setenv("ANTHROPIC_ORGANIZATION_ID", "org")
    no_keys.setenv("ANTHROPIC_IDENTITY_TOKEN", "jwt")
    adapter = resolve("anthropic:claude-sonnet-4-6")
    assert isinstance(adapter, AnthropicProvider)
    assert adapter.client.credentials is not None


def test_an_anthropic_profile_that_is_not_there_is_one_line(no_keys: pytest.MonkeyPatch) -> None:
    no_keys.setenv("ANTHROPIC_PROFILE", "work")
    with pytest.raises(ConfigurationError, match=r"could not make a client: .*profile 'work'"):
        resolve("anthropic:claude-sonnet-4-6")


@pytest.mark.parametrize("switch", ["GOOGLE_GENAI_USE_VERTEXAI", "GOOGLE_GENAI_USE_ENTERPRISE"])
def test_gemini_on_vertex_ai_is_left_to_the_sdk(no_keys: pytest.MonkeyPatch, switch: str) -> None:
    no_keys.setenv(switch, "true")
    with pytest.raises(ConfigurationError) as caught:  # no project, no key, no default login
        resolve("gemini:gemini-3.1-pro")
    message = str(caught.value)
    assert f"on Vertex AI ({switch} is set)" in message
    assert "GOOGLE_CLOUD_PROJECT and GOOGLE_CLOUD_LOCATION" in message
    assert "\n" not in message

    no_keys.setenv("GOOGLE_CLOUD_PROJECT", "my-project")
    no_keys.setenv("GOOGLE_CLOUD_LOCATION", "us-central1")
    adapter = resolve("gemini:gemini-3.1-pro")  # credentials come at the first request
    assert isinstance(adapter, GeminiProvider)
    assert adapter.client.vertexai

    no_keys.delenv("GOOGLE_CLOUD_PROJECT")
    no_keys.delenv("GOOGLE_CLOUD_LOCATION")
    no_keys.setenv("GOOGLE_API_KEY", "k")  # Vertex AI express mode
    assert resolve("gemini:gemini-3.1-pro").client.vertexai  # type: ignore[attr-defined]


def test_vertex_ai_switched_off_wants_a_gemini_key(no_keys: pytest.MonkeyPatch) -> None:
    no_keys.setenv("GOOGLE_GENAI_USE_VERTEXAI", "false")
    with pytest.raises(ConfigurationError, match=r"set GEMINI_API_KEY or GOOGLE_API_KEY$"):
        resolve("gemini:gemini-3.1-pro")


@pytest.mark.parametrize("key", [None, "", "sk-mine"])
def test_an_openai_compatible_server_needs_no_key(
    no_keys: pytest.MonkeyPatch, key: str | None
) -> None:
    if key is not None:
        no_keys.setenv("OPENAI_API_KEY", key)
    adapter = resolve("openai-compatible:http://localhost:11434/v1:llama3.1:8b")
    assert isinstance(adapter, OpenAIChatProvider)
    sent = key or PLACEHOLDER_KEY
    assert adapter.client.api_key == sent
    assert adapter.client.auth_headers == {"Authorization": f"Bearer {sent}"}
    # The same adapter made for OpenAI itself still wants the key.
    if not key:
        with pytest.raises(ConfigurationError, match="set OPENAI_API_KEY"):
            resolve("openai:llama3.1:8b")
