"""One model message's calls, each held until the earlier calls it conflicts with are done.

Frameworks run a message's calls themselves (a task or a thread per call, or one node run per
call); volley only decides when each may start. The gate is built from the whole message, in the
order the model wrote it, so the precedence is the one volley's executor would use: a write runs
after every earlier call touching its keys and before every later one; reads and calls with
nothing in common overlap. Works from async code and from threads alike.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future
from typing import Any, Generic, TypeVar

from .._access import NO_ACCESS, Access
from .._errors import ConfigurationError
from .._scheduler import Scheduler
from .._tool import UNSET, Tool, ToolOptions

__all__ = ["CallLimit", "GateRegistry", "ListMemo", "TurnGate", "declared_tool"]


class TurnGate:
    """The calls of one message: `hold(call_id)` waits for the call's turn and keeps it.

    Cheap per call: a call that waits for nothing (most of them) costs a look-up and a flag, and
    only a call that others wait for gets a future to wake them.
    """

    def __init__(self, calls: Sequence[tuple[str, Access]]) -> None:
        scheduler = Scheduler()
        self._node: dict[str, int] = {}
        self._ids: list[str] = []
        for call_id, access in calls:
            if call_id in self._node:  # a repeated id: it waits for nothing, holds nothing
                access = NO_ACCESS
            number = scheduler.add(access=access)
            self._node.setdefault(call_id, number)
            self._ids.append(call_id)
        count = len(self._ids)
        self._waits_for = [scheduler.predecessors(n) for n in range(count)]
        waited = {p for predecessors in self._waits_for for p in predecessors}
        self._wake: list[Future[None] | None] = [
            Future() if n in waited else None for n in range(count)
        ]
        self._ended = bytearray(count)
        self._released = 0
        self._lock = threading.Lock()

    def __contains__(self, call_id: object) -> bool:
        return call_id in self._node

    @property
    def finished(self) -> bool:
        """Whether every call has been released (the gate is no longer needed)."""
        return self._released == len(self._ids)

    def predecessors(self, call_id: str) -> list[str]:
        """The earlier calls `call_id` waits for, by id."""
        number = self._node.get(call_id)
        return [] if number is None else [self._ids[p] for p in self._waits_for[number]]

    def is_released(self, call_id: str) -> bool:
        """Whether the call has been released (ended, or given up on)."""
        number = self._node.get(call_id)
        return number is not None and bool(self._ended[number])

    def must_wait(self, call_id: str) -> bool:
        """Whether an earlier call this one waits for is still running (else `wait` is a no-op)."""
        return bool(self._blockers(call_id))

    async def wait(self, call_id: str) -> None:
        """Wait (asynchronously) until the call may run; `release` it when it ends.

        A call the gate does not know (not in the message) may run at once. Cancelled while
        waiting, the call is released, so the calls after it are not held forever.
        """
        try:
            for future in self._blockers(call_id):
                # Shielded: cancelling this wait must not cancel the earlier call's future.
                await asyncio.shield(asyncio.wrap_future(future))
        except BaseException:
            self.release(call_id)
            raise

    def wait_sync(self, call_id: str) -> None:
        """`wait` for a call that runs in a thread: the thread blocks until the call may run."""
        try:
            for future in self._blockers(call_id):
                future.result()
        except BaseException:
            self.release(call_id)
            raise

    @contextlib.asynccontextmanager
    async def hold(self, call_id: str) -> AsyncIterator[None]:
        """`wait`, then hold the call's keys inside the block; released when it is left."""
        await self.wait(call_id)
        try:
            yield
        finally:
            self.release(call_id)

    @contextlib.contextmanager
    def hold_sync(self, call_id: str) -> Iterator[None]:
        """`hold` for a call that runs in a thread."""
        self.wait_sync(call_id)
        try:
            yield
        finally:
            self.release(call_id)

    def release(self, call_id: str) -> bool:
        """The call has ended, or will never run: the calls waiting for it may go on.

        Returns whether this released it (`False`: unknown, or released before).
        """
        number = self._node.get(call_id)
        if number is None:
            return False
        with self._lock:
            if self._ended[number]:
                return False
            self._ended[number] = 1
            self._released += 1
            wake = self._wake[number]
        if wake is not None:
            wake.set_result(None)
        return True

    def _blockers(self, call_id: str) -> list[Future[None]]:
        number = self._node.get(call_id)
        if number is None:
            return []
        return [
            wake
            for p in self._waits_for[number]
            if not self._ended[p] and (wake := self._wake[p]) is not None
        ]


class CallLimit:
    """At most `most` calls of a tool at once, waited for from threads and tasks alike, in turn.

    A framework's calls run in its threads or its tasks: the slot a call ends is handed to the
    next waiting call directly (first come, first served). A task cancelled while it waits
    leaves the queue, or passes on the slot it was just handed.
    """

    def __init__(self, most: int) -> None:
        self._free = most
        self._queue: deque[Future[None]] = deque()
        self._lock = threading.Lock()

    def _ticket(self) -> Future[None] | None:
        with self._lock:
            if self._free > 0 and not self._queue:
                self._free -= 1
                return None  # a slot now
            ticket: Future[None] = Future()
            self._queue.append(ticket)
            return ticket

    def acquire_sync(self) -> None:
        """Block the thread until the call has a slot."""
        ticket = self._ticket()
        if ticket is not None:
            ticket.result()

    async def acquire(self) -> None:
        """Wait (asynchronously) until the call has a slot."""
        ticket = self._ticket()
        if ticket is None:
            return
        try:
            await asyncio.shield(asyncio.wrap_future(ticket))
        except BaseException:
            with self._lock:
                waiting = ticket in self._queue
                if waiting:
                    self._queue.remove(ticket)
            if not waiting:  # the slot came as it was cancelled: pass it on
                self.release()
            raise

    def release(self) -> None:
        """The call has ended: its slot goes to the next waiting call, if any."""
        with self._lock:
            ticket = self._queue.popleft() if self._queue else None
            if ticket is None:
                self._free += 1
        if ticket is not None:
            ticket.set_result(None)


class GateRegistry:
    """The gate of each message being run, found from any of its calls.

    For frameworks that run each call on its own (a node run per call, a hook per call): the
    first call of a message to arrive makes the gate from the whole message, the others find
    it, and it is dropped when all of them are released.
    """

    def __init__(self) -> None:
        self._gates: dict[tuple[str, ...], TurnGate] = {}
        self._lock = threading.Lock()
        self._last: tuple[tuple[str, ...], TurnGate] | None = None
        """The last gate asked for, by its calls' tuple: the calls of a message come together,
        each with the same tuple, which is then neither hashed nor looked up again."""

    def gate(self, call_ids: tuple[str, ...], make: Callable[[], TurnGate]) -> TurnGate:
        """The gate of the message whose calls are `call_ids`, made by `make` if it is new."""
        last = self._last
        if last is not None and last[0] is call_ids and not last[1].finished:
            return last[1]
        with self._lock:
            gate = self._gates.get(call_ids)
            if gate is None or gate.finished:
                gate = self._gates[call_ids] = make()
            self._last = (call_ids, gate)
            return gate

    def forget_finished(self) -> None:
        """Drop the gates whose calls have all been released."""
        with self._lock:
            for key in [key for key, gate in self._gates.items() if gate.finished]:
                del self._gates[key]
            if self._last is not None and self._last[1].finished:
                self._last = None

    def __len__(self) -> int:
        return len(self._gates)


_T = TypeVar("_T")


class ListMemo(Generic[_T]):
    """What `compute` says of a message list, kept while the list is the same (by identity).

    The calls of one message each find their message in the same list (every `Send` of a step
    carries the one state): reading it once, not once per call, keeps a call's work O(1). A
    list counts as the same only while it is the same object, as long, with the same last
    message (LangGraph replaces states rather than changing them); the list is held, so its id
    is never reused by another while it is remembered.
    """

    def __init__(self, compute: Callable[[Sequence[Any]], _T], size: int = 64) -> None:
        self._compute = compute
        self._size = size
        self._lock = threading.Lock()
        self._seen: OrderedDict[int, tuple[Sequence[Any], int, object, _T]] = OrderedDict()

    def of(self, messages: Sequence[Any]) -> _T:
        """`compute(messages)`, worked out once for this list."""
        length = len(messages)
        last = messages[-1] if length else None
        with self._lock:
            seen = self._seen.get(id(messages))
            if seen is not None and seen[0] is messages and seen[1] == length and seen[2] is last:
                return seen[3]
        found = self._compute(messages)
        with self._lock:
            self._seen[id(messages)] = (messages, length, last, found)
            while len(self._seen) > self._size:
                self._seen.popitem(last=False)
        return found


def _never(**_: Any) -> None:  # pragma: no cover - a declaration's body is never run
    raise RuntimeError("a declared tool's body is run by its framework, not by volley")


def declared_tool(
    name: str, options: Mapping[str, Any] | None, *, not_applied: Mapping[str, str] | None = None
) -> Tool[..., Any]:
    """A volley tool that only says what a framework's tool touches (for `Tool.access`).

    `options` is a `ToolOptions` dict (`effects`, `reads`, `writes`, ...), as a framework tool
    carries it in its metadata under `"volley"`; `None` declares nothing. `not_applied` names
    the options the framework's integration cannot apply, and why: setting one is an error
    here, rather than a setting quietly ignored (its default, `None` or 0, is accepted).
    """
    given = dict(options or {})
    unknown = sorted(set(given) - set(ToolOptions.__annotations__))
    if unknown:  # a typo must not quietly declare nothing (and so race)
        known = ", ".join(sorted(ToolOptions.__annotations__))
        raise ConfigurationError(f"tool {name!r}: unknown volley options {unknown}; known: {known}")
    for option, why in (not_applied or {}).items():
        if given.get(option) not in (None, 0, UNSET):
            raise ConfigurationError(f"tool {name!r}: {option} is not applied here: {why}")
    return Tool.from_schema(name, "", None, _never, **given)
