"""Benchmarks of volley against the baselines it replaces: `volley bench` or `python -m benchmarks`.

Every benchmark times volley and its baselines in the same run, interleaved round by round, and
reports ratios, so that a noisy machine moves both sides of each comparison alike. Modules are
imported only when their benchmark runs: some need the `anthropic` and `sim` extras.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Coroutine
from typing import Any

from ._harness import Report

__all__ = ["BENCHMARKS", "SEEDS_AND_OWN", "load"]

BENCHMARKS = ("seeds", "fanout", "overhead", "dag", "conflicts", "roundtrips", "streaming")
"""Every benchmark, in the order a full run shows them."""

SEEDS_AND_OWN = ("seeds", "roundtrips", "streaming", "dag", "conflicts")
"""What `volley bench` runs: the seeds' tables, then volley's own rows."""


def load(name: str) -> Callable[..., Coroutine[Any, Any, Report]]:
    """The benchmark's `run(quick)`; a failed correctness check in it raises."""
    if name not in BENCHMARKS:
        raise ValueError(f"no benchmark named {name!r}; choose from {', '.join(BENCHMARKS)}")
    try:
        module = importlib.import_module(f"{__name__}.{name}")
    except ModuleNotFoundError as exc:
        if exc.name in ("anthropic", "starlette", "uvicorn", "httpx2"):
            raise ImportError(
                f"the {name} benchmark talks to the simulated provider through the Anthropic SDK: "
                "pip install 'volley-tools[demo]'"
            ) from exc
        raise
    run: Callable[..., Coroutine[Any, Any, Report]] = module.run
    return run
