"""Virtual time for property tests, and what tool bodies record about themselves.

Each example runs on its own `looptime` event loop: the clock jumps to the next timer whenever
the loop is idle, so sleeps and timeouts cost no real time but are exact in loop time. Tool
bodies record their own start and end with the loop's clock, independently of volley's figures.
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter, defaultdict
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from typing import Any

import looptime

HORIZON = 10**7
"""Virtual seconds after which an example counts as hung (far beyond any timeout used)."""


def vrun(main: Callable[[], Coroutine[Any, Any, Any]], *, horizon: float = HORIZON) -> Any:
    """Run `main()` on a fresh virtual-time loop; fail, rather than hang, past `horizon`."""

    REC.reset()

    async def guarded() -> Any:
        REC.loop = asyncio.get_running_loop()
        async with asyncio.timeout(horizon):
            return await main()

    loop = looptime.new_event_loop()
    try:
        return loop.run_until_complete(guarded())
    finally:
        loop.close()


class Recorder:
    """What the tool bodies of one example did: intervals, arguments, concurrency."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None
        self.intervals: dict[str, list[list[float | None]]] = defaultdict(list)
        self.received: dict[str, Any] = {}
        self.invocations: Counter[Any] = Counter()
        self.running: Counter[str] = Counter()
        self.peak: Counter[str] = Counter()
        self.total_peak = 0
        self.notes: list[Any] = []
        self._lock = threading.Lock()

    def now(self) -> float:
        assert self.loop is not None, "run the example with vrun()"
        return self.loop.time()

    @contextmanager
    def body(self, tool: str, tag: str | None = None, received: Any = None) -> Iterator[None]:
        """Wrap a tool body: record its interval (ended by return, error or cancellation)."""
        span: list[float | None] = [self.now(), None]
        running, lock = self.running, self._lock  # a thread outliving its example stays out
        with lock:
            if tag is not None:
                self.intervals[tag].append(span)
                self.received[tag] = received
            self.invocations[tool] += 1
            running[tool] += 1
            running["(all)"] += 1
            self.peak[tool] = max(self.peak[tool], running[tool])
            self.total_peak = max(self.total_peak, running["(all)"])
        try:
            yield
        finally:
            span[1] = self.now()
            with lock:
                running[tool] -= 1
                running["(all)"] -= 1

    def span(self, tag: str) -> tuple[float, float] | None:
        """The first start and the last end of the bodies run under `tag`, if any ran."""
        spans = self.intervals.get(tag)
        if not spans:
            return None
        start, end = spans[0][0], spans[-1][1]
        assert start is not None
        assert end is not None, f"{tag} never ended"
        return start, end


REC = Recorder()
"""The recorder of the example being run (examples run one at a time)."""


def max_overlap(intervals: list[tuple[float, float]]) -> int:
    """The most intervals open at one instant; one ending as another starts does not overlap."""
    events = sorted([(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals])
    running = peak = 0
    for _, step in events:
        running += step
        peak = max(peak, running)
    return peak
