"""Which model the demo talks to: the simulated one offline, or a real provider with its key.

Offline, each scenario gets its own `SimServer` playing that scenario's script, reached through
the official Anthropic SDK and volley's Anthropic adapter: the same code path as a real Claude,
down to the HTTP and SSE bytes. With `provider=`, the same prompts go to a real model; the key's
absence is a one-line `DemoUnavailable` naming the variable, before anything starts.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator

from ..providers import Provider, resolve
from ._scenarios import DemoScenario

__all__ = ["PROVIDERS", "SIMULATED_MODEL", "DemoUnavailable", "model_for", "real_model"]

PROVIDERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "anthropic": ("anthropic:claude-sonnet-4-6", ("ANTHROPIC_API_KEY",)),
    "openai": ("openai:gpt-5.4", ("OPENAI_API_KEY",)),
    "gemini": ("gemini:gemini-3.1-pro", ("GEMINI_API_KEY", "GOOGLE_API_KEY")),
}
"""Provider -> (model string, the environment variables that can hold its key)."""

SIMULATED_MODEL = "claude-sim"


class DemoUnavailable(RuntimeError):
    """The demo cannot run as asked (no API key, unknown provider, missing SDK); one line."""


def real_model(provider: str) -> Provider:
    """The adapter for a real provider, made only if its API key is set.

    Raises:
        DemoUnavailable: unknown provider, no key in the environment, or its SDK missing.
    """
    if provider not in PROVIDERS:
        known = ", ".join(PROVIDERS)
        raise DemoUnavailable(f"unknown provider {provider!r}: choose one of {known}")
    model, variables = PROVIDERS[provider]
    if not any(os.environ.get(name) for name in variables):
        names = " or ".join(variables)
        raise DemoUnavailable(f"set {names} to run the demo against {model}")
    try:
        return resolve(model)
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
