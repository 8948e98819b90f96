"""The Ray options of each tool: where its calls may run, checked when the backend is made.

volley decides retries (a retry by Ray would run a write again unseen), so the options that
would let Ray retry are refused; the rest say where a call runs and with what.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from .._errors import ConfigurationError

__all__ = ["PLACEMENT_KEYS", "actor_options", "check_options", "task_options"]

PLACEMENT_KEYS = frozenset(
    {
        "num_cpus",
        "num_gpus",
        "memory",
        "resources",
        "accelerator_type",
        "runtime_env",
        "scheduling_strategy",
        "label_selector",
    }
)
"""The Ray options a tool may be given: what a call needs, and where it may run."""

_RETRY_KEYS = frozenset({"max_retries", "retry_exceptions", "max_restarts", "max_task_retries"})

ACTOR_CONCURRENCY = 1000
"""Calls one async tool's actor runs at once (Ray's default for async actors)."""


def check_options(
    options: Mapping[str, Mapping[str, Any]] | None, local: Collection[str]
) -> dict[str, dict[str, Any]]:
    """The per-tool options, checked; a key Ray would retry with, or an unknown one, is refused."""
    checked: dict[str, dict[str, Any]] = {}
    for name, given in (options or {}).items():
        if not isinstance(given, Mapping):
            raise ConfigurationError(f"the Ray options of {name!r} must be a mapping")
        if name in local:
            raise ConfigurationError(
                f"{name!r} is both given Ray options and kept local (in this process)"
            )
        for key in given:
            if key in _RETRY_KEYS:
                raise ConfigurationError(
                    f"{key!r} (for {name!r}): Ray never retries a call under volley, which "
                    "retries read-only and idempotent tools itself: use @tool(retries=...)"
                )
            if key not in PLACEMENT_KEYS:
                allowed = ", ".join(sorted(PLACEMENT_KEYS))
                raise ConfigurationError(
                    f"unknown Ray option {key!r} for {name!r}; a tool may be given: {allowed}"
                )
        checked[name] = dict(given)
    return checked


def task_options(name: str, given: Mapping[str, Any]) -> dict[str, Any]:
    """A sync tool's task: never retried by Ray; one CPU unless told otherwise."""
    return {"max_retries": 0, "retry_exceptions": False, "name": name, **given}


def actor_options(given: Mapping[str, Any]) -> dict[str, Any]:
    """An async tool's actor: never restarted nor retried; no CPU held unless told otherwise."""
    return {
        "num_cpus": 0,
        "max_restarts": 0,
        "max_task_retries": 0,
        "max_concurrency": ACTOR_CONCURRENCY,
        **given,
    }
