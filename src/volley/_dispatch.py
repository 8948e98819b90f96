"""Streaming dispatch: which calls may start while the model is still writing its message.

A call that declares it only reads can start the moment its arguments are complete: if the
message later turns out broken (the stream drops, the model runs out of tokens), it is cancelled
and its result thrown away, and nothing happened that matters. A write cannot be taken back, and
the Vercel AI SDK removed early dispatch over exactly this, so a write waits until the message has
ended. Every call after the first write waits with it: a later read started early would run before
the write it conflicts with, against the order the model wrote them in. A tool that declares
nothing may write too: it waits for the message's end as well, though calls after it need not (it
conflicts with no declared read), and the message asked again would run it a second time.
"""

from __future__ import annotations

from collections import Counter, defaultdict, deque
from collections.abc import Callable, Sequence

from ._batch import Batch
from ._call import ToolCall, ToolResult
from ._tool import Tool, Toolbox

__all__ = ["EarlyDispatch", "writes"]


def writes(tool: Tool[..., object] | None) -> bool:
    """Whether a call of `tool` may change something (unknown tools only get an error)."""
    return tool is not None and (tool.effects == "write" or tool.writes is not None)


class EarlyDispatch:
    """Hands one turn's calls to a batch as the model completes them, holding back writes.

    The batch is made on the first call, so its figures start with the first call, not the
    request. `arrived` records when each call's arguments were complete, for the timeline.
    """

    def __init__(
        self,
        new_batch: Callable[[], Batch],
        toolbox: Toolbox,
        clock: Callable[[], float],
        *,
        on_start: Callable[[ToolCall, bool], None] | None = None,
    ) -> None:
        self._new_batch = new_batch
        self._toolbox = toolbox
        self._clock = clock
        self._on_start = on_start
        self.batch: Batch | None = None
        self.arrived: dict[str, float] = {}
        self._submitted: Counter[str] = Counter()
        self._holding = False

    def call_complete(self, call: ToolCall) -> bool:
        """A call's arguments are complete, the message goes on: start it if that is safe."""
        self.arrived.setdefault(call.id, self._clock())
        tool = self._toolbox.get(call.name)
        if self._holding or writes(tool):
            self._holding = True
            return False
        if tool is None or not tool.is_read_only or tool.requires_approval:
            return False  # it may write, or wait for a person: not before the message ends
        self._submit([call], early=True)
        return True

    def release(self, calls: Sequence[ToolCall]) -> None:
        """The message ended well: start every call of it not started yet, in its order.

        `calls` is the whole message's; those already started are skipped, so a provider that
        announces no call before the end works too.
        """
        now = self._clock()
        pending: list[ToolCall] = []
        for call in calls:
            self.arrived.setdefault(call.id, now)
            if self._submitted[call.id]:
                self._submitted[call.id] -= 1
            else:
                pending.append(call)
        self._holding = False
        if pending:
            self._submit(pending, early=False)

    async def results(self, calls: Sequence[ToolCall]) -> list[ToolResult]:
        """Every call's result, in the order of `calls` (the message's order)."""
        if self.batch is None:
            return []
        results = await self.batch.close()
        if [r.call_id for r in results] == [c.id for c in calls]:
            return results
        by_id: defaultdict[str, deque[ToolResult]] = defaultdict(deque)
        for result in results:
            by_id[result.call_id].append(result)
        return [by_id[call.id].popleft() for call in calls]

    async def abandon(self) -> None:
        """The message is void: cancel what started early and wait until nothing runs."""
        self._holding = False
        if self.batch is not None:
            self.batch.cancel()
            await self.batch.close()

    def _submit(self, calls: list[ToolCall], *, early: bool) -> None:
        if self.batch is None:
            self.batch = self._new_batch()
        if self._on_start is not None:  # before the batch can answer any of them
            for call in calls:
                self._on_start(call, early)
        if early:
            self._submitted[calls[0].id] += 1
            self.batch.submit(calls[0])
        else:
            self.batch.submit_many(calls)
