"""Hedged reads: a call slow to answer gets a second attempt, and the first answer wins.

One straggling read (a slow replica, a cold cache) holds up a whole turn, and the turn's time is
its slowest call's. Starting the same read again after a delay turns a rare long wait into the
delay plus a typical one, for the price of a few extra calls: the delay is where most calls have
answered already (a fixed time, or a percentile of the tool's recent latencies), and each batch
has a budget of hedges, so a slow service is never hit twice as hard.

Here is the policy (when, how often); the race itself, in tasks, is the executor's (`_hedging`).
"""

from __future__ import annotations

import bisect
import math
import re
from collections import deque
from typing import TYPE_CHECKING, Any

from ._errors import ConfigurationError

if TYPE_CHECKING:
    from ._tool import Tool

__all__ = [
    "MIN_SAMPLES",
    "WINDOW",
    "HedgeBudget",
    "LatencyWindow",
    "hedge_delay",
    "hedge_percentile",
]

MIN_SAMPLES = 20
"""Latencies a percentile needs before it is trusted: below that a tool does not hedge."""
WINDOW = 200
"""Latencies kept per tool: recent enough to follow a service that slows down or recovers."""

_PERCENTILE = re.compile(r"p(\d{1,2}(?:\.\d)?)")


def hedge_percentile(name: str, hedge_after: float | str | None) -> float | None:
    """The percentile a `hedge_after` string names (`"p95"` -> 95.0), `None` for seconds.

    Raises:
        ConfigurationError: neither seconds above 0 nor a percentile above 0 and below 100.
    """
    if isinstance(hedge_after, str):
        match = _PERCENTILE.fullmatch(hedge_after)
        if match is not None and 0 < float(match[1]) < 100:
            return float(match[1])
    elif (
        isinstance(hedge_after, int | float)
        and not isinstance(hedge_after, bool)
        and math.isfinite(hedge_after)
        and hedge_after > 0
    ):
        return None
    raise ConfigurationError(
        f"tool {name!r}: hedge_after must be seconds above 0 or a percentile of recent "
        f"latencies such as 'p95' or 'p99.5' (above 0, below 100), not {hedge_after!r}"
    )


class LatencyWindow:
    """A tool's recent latencies: how long its first attempts took to answer.

    Only first attempts are counted, and one cut short because its hedge answered first counts
    with the time it had run by then (its latency was at least that). Dropping those would drop
    exactly the slow calls hedging cuts short: the window's tail would shrink, the percentile
    with it, and hedging would feed on itself until it hedged far more calls than it meant to.
    """

    __slots__ = ("_ordered", "_samples", "_size")

    def __init__(self, size: int = WINDOW) -> None:
        self._size = size
        self._samples: deque[float] = deque()
        self._ordered: list[float] = []
        """The same latencies, sorted: a percentile is read on every call, so it is kept ready."""

    def add(self, seconds: float) -> None:
        """Keep one latency (the oldest goes once the window is full)."""
        seconds = max(0.0, seconds)
        if len(self._samples) >= self._size:
            oldest = self._samples.popleft()
            del self._ordered[bisect.bisect_left(self._ordered, oldest)]
        self._samples.append(seconds)
        bisect.insort(self._ordered, seconds)

    def __len__(self) -> int:
        return len(self._samples)

    def percentile(self, q: float) -> float | None:
        """The `q`-th percentile (nearest rank), or `None` while too few latencies are known."""
        ordered = self._ordered
        if len(ordered) < MIN_SAMPLES:
            return None
        rank = math.ceil(q / 100 * len(ordered))
        return ordered[min(len(ordered), max(1, rank)) - 1]


class HedgeBudget:
    """The hedges one batch may still start, so that a slow service is not asked twice as often.

    When a whole backend slows down, every call passes its delay at once: without a cap, hedging
    would double the load on what is already struggling.
    """

    __slots__ = ("left", "limit")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.left = limit

    def take(self) -> bool:
        """Spend one hedge, if any is left."""
        if self.left <= 0:
            return False
        self.left -= 1
        return True


def hedge_delay(tool: Tool[..., Any]) -> float | None:
    """Seconds to wait for a first attempt before hedging it; `None`: do not hedge (yet)."""
    if tool.hedge_percentile is None:
        return tool.hedge_after if isinstance(tool.hedge_after, int | float) else None
    latencies = tool.latencies
    return None if latencies is None else latencies.percentile(tool.hedge_percentile)
