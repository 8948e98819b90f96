"""Model strings: every base URL and model name parses back; every bad string is one clear line."""

from __future__ import annotations

import re

import httpx2
import pytest
from _hyp import examples
from hypothesis import assume, given
from hypothesis import strategies as st

from volley import ConfigurationError
from volley.providers import Provider, resolve
from volley.providers._credentials import PLACEHOLDER_KEY
from volley.providers._resolve import parse_compatible
from volley.providers.openai_chat import OpenAIChatProvider

PERMISSIVE = examples(50)


_label = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?", fullmatch=True)
_hosts = st.one_of(
    st.lists(_label, min_size=1, max_size=4).map(".".join),
    st.ip_addresses(v=4).map(str),
    st.ip_addresses(v=6).map(lambda ip: f"[{ip}]"),
)
# A path segment: anything a URL path holds but a colon, `/`, `?`, `#` and whitespace.
_segment = st.text(
    st.characters(exclude_characters=":/?#", exclude_categories=("Z", "C")), max_size=8
)
_paths = st.one_of(
    st.just(""),
    st.lists(_segment, min_size=1, max_size=4).map(lambda parts: "/" + "/".join(parts)),
)


@st.composite
def base_urls(draw: st.DrawFn) -> str:
    scheme = draw(st.sampled_from(["http", "https", "HTTP", "Https"]))
    port = draw(st.none() | st.integers(0, 65535))
    return f"{scheme}://{draw(_hosts)}{'' if port is None else f':{port}'}{draw(_paths)}"


@st.composite
def bare_hosts(draw: st.DrawFn) -> str:
    """Base URLs with no port and no path (drawn as such: filtering `base_urls` rejects most)."""
    return f"{draw(st.sampled_from(['http', 'https', 'HTTP']))}://{draw(_hosts)}"


def _ends_at_host(base_url: str) -> bool:
    """No port and no path: what follows the next colon may be read as a port."""
    authority = base_url.partition("://")[2]
    return "/" not in authority and not re.search(r":[0-9]+\Z", authority)


def _port_first(model: str) -> re.Match[str] | None:
    """Digits at the model's start that a bare host would take for its port."""
    return re.match(r"[0-9]+(?=[/:]|\Z)", model)


models = st.one_of(
    st.text(min_size=1).filter(str.strip),  # anything: colons, slashes, `@`, newlines
    st.from_regex(r"[a-z][a-z0-9.-]{0,12}(:[a-z0-9.]{1,6}){0,3}", fullmatch=True),  # Ollama tags
    st.sampled_from(["llama3.1:8b", "meta-llama/Llama-3.1-8B-Instruct", "qwen3:30b-a3b:q4_K_M"]),
)


@given(base_urls(), models)
def test_any_base_url_and_any_model_parse_back(base_url: str, model: str) -> None:
    text = f"openai-compatible:{base_url}:{model}"
    port = _port_first(model)
    if port is None or not _ends_at_host(base_url):
        assert parse_compatible(text) == (base_url, model)
        return
    # The one reading the rule fixes: digits right after a bare host are its port.
    rest = model[port.end() :]
    if rest.startswith(":") and rest[1:].strip():
        assert parse_compatible(text) == (f"{base_url}:{port[0]}", rest[1:])
    else:
        with pytest.raises(ConfigurationError):
            parse_compatible(text)


@given(bare_hosts(), st.integers(0, 65535).map(str), models)
def test_digits_after_a_bare_host_are_its_port(base_url: str, port: str, model: str) -> None:
    assert _ends_at_host(base_url)
    text = f"openai-compatible:{base_url}:{port}:{model}"
    assert parse_compatible(text) == (f"{base_url}:{port}", model)


@PERMISSIVE
@given(base_urls(), models, st.sampled_from([None, "sk-real"]))
def test_the_adapter_reaches_that_base_url_with_that_model(
    no_keys: pytest.MonkeyPatch, base_url: str, model: str, key: str | None
) -> None:
    assume(_port_first(model) is None or not _ends_at_host(base_url))
    # A local server needs no key; a key in the environment is sent when there is one.
    if key is None:
        no_keys.delenv("OPENAI_API_KEY", raising=False)
    else:
        no_keys.setenv("OPENAI_API_KEY", key)
    adapter = resolve(f"openai-compatible:{base_url}:{model}")
    assert isinstance(adapter, OpenAIChatProvider)
    assert adapter.model == model
    assert adapter.name == f"openai-compatible:{model}"
    assert str(adapter.client.base_url).rstrip("/") == str(httpx2.URL(base_url)).rstrip("/")
    assert adapter.client.api_key == (key or PLACEHOLDER_KEY)


@given(base_urls(), st.sampled_from(["", ":", ": ", ":\t\n"]))
def test_a_base_url_without_a_model_is_refused_never_read_as_one(base_url: str, end: str) -> None:
    # In particular the port is never taken for the model: `http://host:11434` names none.
    text = f"openai-compatible:{base_url}{end}"
    with pytest.raises(ConfigurationError, match=r"names no model after the base URL") as caught:
        parse_compatible(text)
    assert repr(text) in str(caught.value)


@given(st.text().filter(lambda t: not t.lower().startswith(("http://", "https://"))))
def test_a_base_url_must_be_http(rest: str) -> None:
    with pytest.raises(ConfigurationError, match=r"with an http:// or https:// base URL"):
        parse_compatible(f"openai-compatible:{rest}")


_prefixes = st.sampled_from(
    ["", "anthropic:", "openai:", "openai-responses:", "gemini:", "openai-compatible:", "x:"]
)


@PERMISSIVE
@given(st.builds(str.__add__, _prefixes, st.text()) | st.text())
def test_any_string_is_an_adapter_or_one_line_configuration_error(
    no_keys: pytest.MonkeyPatch, text: str
) -> None:
    # Without any key, only an OpenAI-compatible server can be reached.
    outcome = made_or_refused(text)
    if isinstance(outcome, ConfigurationError):
        assert isinstance(outcome, ValueError)  # what older callers catch
        message = str(outcome)
        assert "\n" not in message
        assert repr(text) in message or text in message
    else:
        assert text.startswith("openai-compatible:")
        assert outcome.name.startswith("openai-compatible:")


def made_or_refused(model: str) -> Provider | ConfigurationError:
    try:
        return resolve(model)
    except ConfigurationError as exc:
        return exc


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("claude-sonnet-4-6", "write <provider>:<model>, with a provider among anthropic, gemini"),
        ("mystery:model", "with a provider among anthropic, gemini, openai, openai-responses"),
        ("anthropic:", "names no model: write <provider>:<model>"),
        ("gemini:  ", "names no model"),
        ("openai-compatible:qwen3", "write openai-compatible:<base_url>:<model> with an http://"),
        ("openai-compatible:localhost:11434/v1:qwen3", "with an http:// or https:// base URL"),
        ("openai-compatible:http://localhost:11434", "(the digits after its host are its port)"),
        ("openai-compatible:http://h/v1?x=1:m", "is followed by '?', not by ':<model>'"),
        ("openai-compatible:http://u@h/v1:m", "is followed by '@', not by ':<model>'"),
        ("openai-compatible:http://[zz]/v1:m", "the base URL has no host"),
        ("openai-compatible:https://:8000/v1:m", "the base URL has no host"),
        ("openai-compatible:http://h:99999/v1:m", "the port 99999 is past 65535"),
        ("anthropic:claude\n", "needs an API key: set ANTHROPIC_API_KEY"),  # one line, still
    ],
)
def test_each_kind_of_bad_string_says_what_is_wrong(
    no_keys: pytest.MonkeyPatch, text: str, says: str
) -> None:
    with pytest.raises(ConfigurationError) as caught:
        resolve(text)
    assert says in str(caught.value)
    assert repr(text) in str(caught.value)
