"""Benchmarks of volley against the baselines it replaces: `volley bench` or `python -m benchmarks`.

Every benchmark times volley and its baselines in the same run, interleaved round by round, and
reports ratios, so that a noisy machine moves both sides of each comparison alike. Modules are
imported only when their benchmark runs: some need the `anthropic` and `sim` extras.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Coroutine, Iterable
from typing import Any

from ._harness import Report

__all__ = ["BENCHMARKS", "EXTRAS", "NEEDS", "SEEDS_AND_OWN", "load", "unavailable"]

BENCHMARKS = (
    "seeds",
    "fanout",
    "overhead",
    "dag",
    "conflicts",
    "roundtrips",
    "streaming",
    "mcp",
    "frameworks",
    "journal",
    "ray",
    "hedge",
    "plans",
)
"""Every benchmark, in the order a full run shows them."""

SEEDS_AND_OWN = ("seeds", "roundtrips", "streaming", "dag", "conflicts")
"""What `volley bench` runs: the seeds' tables, then volley's own rows."""

EXTRAS = {
    "anthropic": ("anthropic",),
    "sim": ("starlette", "uvicorn"),
    "mcp": ("mcp", "httpx2"),
    "langgraph": ("langgraph",),
    "langchain": ("langchain",),
    "pydantic-ai": ("pydantic_ai",),
    "ray": ("ray",),
}
"""An extra of volley-tools -> the modules it installs that a benchmark imports (the `sim`
extra's httpx2 is the demo's)."""

NEEDS = {
    "roundtrips": ("anthropic", "sim"),
    "streaming": ("anthropic", "sim"),
    "mcp": ("mcp",),
    "frameworks": ("langgraph", "langchain", "pydantic-ai"),
    "journal": ("anthropic", "sim"),
    "ray": ("ray", "anthropic", "sim"),
    "plans": ("anthropic", "sim"),
}
"""A benchmark -> the extras it needs (four talk to the simulated provider through the
Anthropic SDK, one to an MCP server through the MCP SDK, one runs inside LangGraph, LangChain and
Pydantic AI, one starts a Ray cluster); the others need none."""


def unavailable(names: Iterable[str]) -> str | None:
    """Why the named benchmarks cannot all run (one line naming what to install), or `None`.

    Checked before any of them runs, so that a long run does not stop halfway for want of an extra.
    """
    missing: dict[str, list[str]] = {}  # extra -> its modules that cannot be imported
    who: list[str] = []
    for name in dict.fromkeys(names):
        for extra in NEEDS.get(name, ()):
            absent = missing.get(extra)
            if absent is None:
                absent = missing[extra] = [m for m in EXTRAS[extra] if not _importable(m)]
            if absent and name not in who:
                who.append(name)
    extras = [extra for extra, absent in missing.items() if absent]
    if not extras:
        return None
    modules = ", ".join(m for extra in extras for m in missing[extra])
    what = (
        f"the {who[0]} benchmark needs"
        if len(who) == 1
        else f"the {' and '.join(who)} benchmarks need"
    )
    return f"{what} {modules}: pip install 'volley-tools[{','.join(sorted(extras))}]'"


def _importable(module: str) -> bool:
    try:
        importlib.import_module(module)
    except ImportError:
        return False
    return True


def load(name: str) -> Callable[..., Coroutine[Any, Any, Report]]:
    """The benchmark's `run(quick)`; a failed correctness check in it raises."""
    if name not in BENCHMARKS:
        raise ValueError(f"no benchmark named {name!r}; choose from {', '.join(BENCHMARKS)}")
    try:
        module = importlib.import_module(f"{__name__}.{name}")
    except ModuleNotFoundError as exc:
        top = (exc.name or "").partition(".")[0]
        extra = next((extra for extra, modules in EXTRAS.items() if top in modules), None)
        if extra is not None:
            raise ImportError(
                f"the {name} benchmark needs {top}: pip install 'volley-tools[{extra}]'"
            ) from exc
        raise
    run: Callable[..., Coroutine[Any, Any, Report]] = module.run
    return run
