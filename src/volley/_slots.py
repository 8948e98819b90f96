"""Concurrency limits, applied before a call's task exists.

A call that may not start yet waits in a FIFO queue (its tool's, then the executor's) as a plain
entry, not as a task blocked on a semaphore: a batch of 100,000 calls under a limit of 64 holds 64
tasks, and admitting a call when a slot is free costs two integer updates.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

from ._tool import Tool

__all__ = ["Slots"]


class Waiting(Protocol):
    """What the slots need of a call: its tool, and whether it still wants to run."""

    tool: Tool[..., Any] | None

    @property
    def result(self) -> object:
        """`None` while the call still wants to run; set once it is cancelled or otherwise ended."""
        ...


_Queue = deque[tuple[Waiting, Callable[[Any], None]]]


class _ToolSlots:
    __slots__ = ("free", "queue")

    def __init__(self, limit: int) -> None:
        self.free = limit
        self.queue: _Queue = deque()


class Slots:
    """The executor's limit on running calls, and each tool's own limit."""

    def __init__(self, max_concurrency: int) -> None:
        self._free = max_concurrency
        self._queue: _Queue = deque()
        self._tools: dict[str, _ToolSlots] = {}

    def take_spare(self, tool: Tool[..., Any]) -> bool:
        """A slot for a second attempt of a running call (a hedge): free now, or none at all.

        The limits protect what the tools call, so a hedge counts against them too; and it may
        not take a slot a waiting call is queued for, since that call has not run at all yet.
        `release(tool)` gives it back.
        """
        if not self._free or self._queue:
            return False
        if tool.max_concurrency is not None:
            own = self._tool_slots(tool)
            if not own.free or own.queue:
                return False
            own.free -= 1
        self._free -= 1
        return True

    def take_or_queue(self, call: Waiting, start: Callable[[Any], None]) -> bool:
        """Take the call's slots if they are free (True: the caller starts it), else queue it.

        A queued call is started with `start(call)` (FIFO) when slots free up, unless it has a
        `result` by then.
        """
        tool = call.tool
        if tool is not None and tool.max_concurrency is not None:
            own = self._tool_slots(tool)
            if not own.free:
                own.queue.append((call, start))
                return False
            own.free -= 1
        if not self._free:
            self._queue.append((call, start))
            return False
        self._free -= 1
        return True

    def release(self, tool: Tool[..., Any] | None) -> None:
        """A started call of `tool` has ended: its slots go to the calls waiting for them."""
        if tool is not None and tool.max_concurrency is not None:
            self._free += 1
            self._give_back_tool_slot(tool)  # may pass the slot on to a call of that tool
            if not self._free:
                return
            self._free -= 1
        # Calls queue only while no slot is free: the slot goes straight to the first that
        # still wants to run, if any.
        queue = self._queue
        while queue:
            call, start = queue.popleft()
            if call.result is None:
                start(call)
                return
            waited = call.tool  # it held its tool's slot while it waited for the executor's
            if waited is not None and waited.max_concurrency is not None:
                self._give_back_tool_slot(waited)
        self._free += 1

    def _tool_slots(self, tool: Tool[..., Any]) -> _ToolSlots:
        own = self._tools.get(tool.name)
        if own is None:
            own = self._tools[tool.name] = _ToolSlots(tool.max_concurrency or 1)
        return own

    def _give_back_tool_slot(self, tool: Tool[..., Any]) -> None:
        own = self._tool_slots(tool)
        own.free += 1
        while own.free and own.queue:
            call, start = own.queue.popleft()
            if call.result is not None:
                continue
            own.free -= 1
            if self._free and not self._queue:
                self._free -= 1
                start(call)
            else:
                self._queue.append((call, start))
