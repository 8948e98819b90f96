"""Which model the demo talks to: the simulated one offline, or a real provider with its key.

Offline, each scenario gets its own `SimServer` playing that scenario's script, reached through
the official Anthropic SDK and volley's Anthropic adapter: the same code path as a real Claude,
down to the HTTP and SSE bytes. With `provider=`, the same prompts go to a real model; missing
credentials are a one-line `DemoUnavailable` naming what to set, before anything starts (the
adapter checks them as its SDK would find them: a key, a token, Vertex settings).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from .._errors import ConfigurationError, VolleyError
from ..providers import Provider, resolve
from ._scenarios import DemoScenario

__all__ = ["PROVIDERS", "SIMULATED_MODEL", "DemoUnavailable", "model_for", "real_model"]

PROVIDERS: dict[str, str] = {
    "anthropic": "anthropic:claude-sonnet-4-6",
    "openai": "openai:gpt-5.4",
    "gemini": "gemini:gemini-3.1-pro",
}
"""Provider -> the model string the demo runs against."""

SIMULATED_MODEL = "claude-sim"


class DemoUnavailable(VolleyError, RuntimeError):
    """The demo cannot run as asked (no API key, unknown provider, missing SDK); one line."""


def real_model(provider: str) -> Provider:
    """The adapter for a real provider, made only if its SDK finds credentials.

    Raises:
        DemoUnavailable: unknown provider, no credentials in the environment, or its SDK missing.
    """
    if provider not in PROVIDERS:
        known = ", ".join(PROVIDERS)
        raise DemoUnavailable(f"unknown provider {provider!r}: choose one of {known}")
    model = PROVIDERS[provider]
    try:
        return resolve(model)
    except ConfigurationError as exc:  # names what to set
        raise DemoUnavailable(f"{exc} (to run the demo against {model})") from None
    except ImportError as exc:  # the adapter's message names the extra to install
        raise DemoUnavailable(str(exc)) from None


@contextlib.asynccontextmanager
async def model_for(
    scenario: DemoScenario, real: Provider | None, time_scale: float
) -> AsyncIterator[Provider]:
    """The model for one scenario: `real` if given, else a simulator playing its script."""
    if real is not None:
        yield real
        return
    try:
        from anthropic import AsyncAnthropic
    except ImportError:
        raise ImportError(
            "the offline demo reaches its simulated model through the anthropic SDK: "
            "pip install 'volley-tools[demo]'"
        ) from None

    from ..providers.anthropic import AnthropicProvider
    from ..sim import SimServer

    async with SimServer(scenario.script(), time_scale=time_scale) as sim:
        client = AsyncAnthropic(base_url=sim.base_url, api_key="sim", max_retries=0)
        try:
            yield AnthropicProvider(SIMULATED_MODEL, client=client)
        finally:
            await client.close()
