"""What volley is measured against, besides plain gather and sequential loops.

`WaveExecutor` is the wave-by-wave approach volley replaces: each wave is every call whose
dependencies have all completed, run with `asyncio.gather`; the next wave starts only once the
whole wave is done, so a call waits for the slowest call of the previous wave even when it
depends on none of them.

`run_hand_wired` is the ideal volley aims for: the graph wired by hand into tasks, each awaiting
exactly its predecessors, with no parsing, validation or bookkeeping.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from volley import Toolbox, ToolCall


class WaveExecutor:
    """Runs calls with `depends_on` wave by wave; no argument checks, no limits."""

    def __init__(self, toolbox: Toolbox) -> None:
        self.toolbox = toolbox
        self.waves = 0

    async def run(self, calls: Sequence[ToolCall]) -> dict[str, Any]:
        """Run every call; return their values by call id."""
        done: dict[str, Any] = {}
        pending = list(calls)
        self.waves = 0
        while pending:
            wave = [c for c in pending if all(d in done for d in c.depends_on)]
            if not wave:
                raise ValueError("the remaining calls wait on a cycle or on unknown calls")
            values = await asyncio.gather(*(self._call(c) for c in wave))
            done.update((c.id, v) for c, v in zip(wave, values, strict=True))
            pending = [c for c in pending if c.id not in done]
            self.waves += 1
        return done

    async def _call(self, call: ToolCall) -> Any:
        assert isinstance(call.arguments, dict)
        return await self.toolbox[call.name].fn(**call.arguments)


async def run_hand_wired(
    bodies: Sequence[Callable[[], Awaitable[Any]]], predecessors: Sequence[Sequence[int]]
) -> list[Any]:
    """Run `bodies[i]` once every `predecessors[i]` (all lower indices) has ended."""
    tasks: list[asyncio.Task[Any]] = []

    async def node(index: int) -> Any:
        before = [tasks[p] for p in predecessors[index]]
        if before:
            await asyncio.wait(before)
        return await bodies[index]()

    for index in range(len(bodies)):
        tasks.append(asyncio.create_task(node(index)))
    return await asyncio.gather(*tasks)


def longest_path(durations: Sequence[float], predecessors: Sequence[Sequence[int]]) -> float:
    """The critical path: the longest chain of durations, predecessors having lower indices."""
    finish: list[float] = []
    for duration, before in zip(durations, predecessors, strict=True):
        finish.append(duration + max((finish[p] for p in before), default=0.0))
    return max(finish, default=0.0)
