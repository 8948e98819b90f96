"""The plan of one AI message's calls in LangGraph's `ToolNode`: its gate, and who each call is.

Kept apart from `langgraph.py` (the node itself) so that each stays short. A plan is made per
message: by the node's run for a whole message, or shared by the runs of its `Send`s, which find
each other through the state's last AI message (`_SentTurn`, read once per message list).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from typing import Any

from langchain_core.messages import AIMessage, ToolCall, ToolMessage

from .._access import Access
from ._gate import TurnGate

__all__ = ["_Plan", "_SentTurn", "_same"]


class _Plan(TurnGate):
    """The gate of one AI message's calls, and which call of the message each run is.

    Calls are keyed by their place in the message (ids may be missing or repeated). A call run
    by the node is found by identity (the node hands on the message's own dicts); a call that
    came in a `Send` (`shared`) may be a copy, and is then found by its id.
    """

    def __init__(
        self, calls: Sequence[ToolCall], access: Sequence[Access], *, shared: bool, grace: float
    ) -> None:
        super().__init__([(str(n), a) for n, a in enumerate(access)])
        self._grace = grace
        self._calls = list(calls)
        self._shared = self.shared = shared
        self._claimed: set[int] = set()
        self._claims_ended = 0  # claimed calls released since: the plan is idle when all have ended
        self._arrived: list[Future[None]] = [Future() for _ in self._calls] if shared else []
        self._claim_lock = threading.Lock()
        self._born = time.monotonic()
        # Where each call is, by identity and (for `Send` copies) by id and name, in message
        # order: a claim is O(1) instead of a scan of the message.
        self._by_identity: dict[int, list[int]] = {}
        self._by_id: dict[tuple[Any, Any], list[int]] = {}
        for n, planned in enumerate(self._calls):
            self._by_identity.setdefault(id(planned), []).append(n)
            if shared:
                self._by_id.setdefault(_id_of(planned), []).append(n)

    def claim(self, call: ToolCall) -> str | None:
        """The key of this call in the message (`None`: not one of its calls, runs at once)."""
        with self._claim_lock:
            found = None
            for place in self._by_identity.get(id(call), ()):  # nearly always one place
                if place not in self._claimed and self._calls[place] is call:
                    found = place
                    break
            if found is None and self._shared:
                found = self._first_free(self._by_id.get(_id_of(call)), call, _same)
            if found is None:
                return None
            self._claimed.add(found)
            if self._shared:
                self._arrived[found].set_result(None)
                if self.is_released(str(found)):  # came after it was given up on: it has ended
                    self._claims_ended += 1
            return str(found)

    def _first_free(
        self,
        places: list[int] | None,
        call: ToolCall,
        matches: Callable[[Mapping[str, Any], Mapping[str, Any]], bool],
    ) -> int | None:
        """The first unclaimed place in `places` whose call `matches` (claimed ones are dropped)."""
        while places and places[0] in self._claimed:
            places.pop(0)
        return next(
            (n for n in places or () if n not in self._claimed and matches(self._calls[n], call)),
            None,
        )

    def release(self, call_id: str) -> bool:
        """`TurnGate.release`, counting the claimed calls that have ended."""
        if not self._shared:
            return super().release(call_id)
        with self._claim_lock:  # with `claim`'s count: each claimed call's end counts once
            released = super().release(call_id)
            if released and int(call_id) in self._claimed:
                self._claims_ended += 1
        return released

    def settle(self, *, torn_down: bool) -> None:
        """After a call ended: stop waiting for calls that are not coming, so the plan ends.

        The `Send`s of a message start together: once every call that came has ended and the
        grace is over (or the run is being torn down, cancelled), the rest never will.
        """
        if not self._shared:
            return
        with self._claim_lock:
            if self._claims_ended < len(self._claimed):
                return
            if not torn_down and time.monotonic() - self._born < self._grace:
                return
            missing = [n for n in range(len(self._calls)) if n not in self._claimed]
        for n in missing:
            self.release(str(n))

    def _late(self, key: str) -> list[tuple[str, Future[None]]]:
        if not self._shared:  # the node runs every call of the message: all arrive
            return []
        late = ((p, self._arrived[int(p)]) for p in self.predecessors(key))
        return [(p, arrived) for p, arrived in late if not arrived.done()]

    def wait_call(self, key: str) -> None:
        """`wait_sync`, first giving up on earlier calls that do not arrive (`Send` runs)."""
        try:
            deadline = time.monotonic() + self._grace
            for predecessor, arrived in self._late(key):
                try:
                    arrived.result(timeout=max(0.0, deadline - time.monotonic()))
                except TimeoutError:
                    self.release(predecessor)
        except BaseException:
            self.release(key)
            raise
        self.wait_sync(key)

    async def await_call(self, key: str) -> None:
        """`wait`, first giving up on earlier calls that do not arrive (`Send` runs)."""
        try:
            deadline = time.monotonic() + self._grace
            for predecessor, arrived in self._late(key):
                timeout = max(0.0, deadline - time.monotonic())
                done, _ = await asyncio.wait({asyncio.wrap_future(arrived)}, timeout=timeout)
                if not done:
                    self.release(predecessor)
        except BaseException:
            self.release(key)
            raise
        await self.wait(key)


def _same(planned: Mapping[str, Any], sent: Mapping[str, Any]) -> bool:
    return planned.get("id") == sent.get("id") and planned.get("name") == sent.get("name")


def _id_of(call: Mapping[str, Any]) -> tuple[Any, Any]:
    """A call's id and name, as a key (their text, so that no value is unhashable)."""
    return str(call.get("id")), str(call.get("name"))


class _SentTurn:
    """The calls a message's `Send`s run: its last AI message's calls not yet answered."""

    __slots__ = ("_by_id", "calls", "key")

    def __init__(self, message: AIMessage, calls: list[ToolCall]) -> None:
        self.calls = calls
        self.key = (str(message.id), *(str(c.get("id")) for c in calls))
        self._by_id: dict[tuple[str, str], list[ToolCall]] = {}
        for c in calls:
            self._by_id.setdefault(_id_of(c), []).append(c)

    def calls_like(self, call: Mapping[str, Any]) -> list[ToolCall]:
        """The calls with the id and name of `call` (at most a few)."""
        return self._by_id.get(_id_of(call), [])

    @classmethod
    def last(cls, messages: Sequence[Any]) -> _SentTurn | None:
        """The turn of a state's messages (`None`: fewer than two calls, nothing to order)."""
        message = next((m for m in reversed(messages) if isinstance(m, AIMessage)), None)
        if message is None:
            return None
        answered = {m.tool_call_id for m in messages if isinstance(m, ToolMessage)}
        calls = [c for c in message.tool_calls if c.get("id") not in answered]
        return cls(message, calls) if len(calls) >= 2 else None
