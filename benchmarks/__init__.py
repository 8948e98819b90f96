"""Benchmarks of volley against the baselines it replaces: `python -m benchmarks [--quick]`.

Every benchmark times volley and its baselines in the same run, interleaved round by round, and
reports ratios, so that a noisy machine moves both sides of each comparison alike.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from . import conflicts, dag, fanout, overhead, roundtrips, streaming
from ._harness import Report

BENCHMARKS: dict[str, Callable[[bool], Coroutine[Any, Any, Report]]] = {
    "fanout": fanout.run,
    "overhead": overhead.run,
    "dag": dag.run,
    "conflicts": conflicts.run,
    "roundtrips": roundtrips.run,
    "streaming": streaming.run,
}
"""Each takes `quick` and returns its report; a failed correctness check raises."""
