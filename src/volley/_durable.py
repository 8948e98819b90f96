"""One run's journal as the agent loop sees it: what to record, when it must be on disk.

The loop tells a `RunLog` what happens (a model response arrived, a call is starting, a call
ended, the turn ended) and the log turns that into journal records with the durability each
needs: the "started" record of a call that may write and is not idempotent is on disk before
its body starts (so a crash mid-call is known to be a crash mid-write); everything else waits
for the end of the turn, when one commit makes the turn's results durable before the model is
asked again. Without a journal, the log only hands each call its idempotency key.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import hashlib
import json
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import asdict
from typing import Any

from ._access import NO_ACCESS, Access
from ._arguments import parse_arguments
from ._call import ToolCall, ToolResult
from ._errors import ArgumentError
from ._messages import Message, ModelTurn
from ._plan import PLAN_TOOL
from ._scheduler import Scheduler
from ._stats import TurnStats
from ._tool import Tool
from ._toolbox import Toolbox
from ._turn import Holds
from .journal import LEASE_SECONDS, Journal
from .journal._codec import (
    EndRecord,
    FinishedRecord,
    PausedRecord,
    Record,
    RunHeader,
    StartedRecord,
    TurnEnded,
    TurnRecord,
    encode,
    from_call,
    from_message,
    from_result,
    from_turn,
)

__all__ = [
    "ApprovalPolicy",
    "Approvals",
    "RunLog",
    "held_calls",
    "idempotency_key",
    "tools_fingerprint",
]

ApprovalPolicy = Callable[[ToolCall, Tool[..., Any]], bool]
"""Whether a call must wait for a person's approval before it runs."""

_call_key: contextvars.ContextVar[str] = contextvars.ContextVar("volley_call_key")


def idempotency_key() -> str | None:
    """The running call's idempotency key: `run id/turn/call id`, or `None` outside a run.

    The same every time the run is resumed, in any process, so a tool can pass it to a service
    that deduplicates (a payment API's idempotency key) and a call that is run again after a
    crash does not take effect twice.
    """
    return _call_key.get(None)


def tools_fingerprint(toolbox: Toolbox) -> str:
    """A short hash of the tools' names and schemas: a resume can tell they changed."""
    described = sorted((tool.name, json.dumps(tool.schema, sort_keys=True)) for tool in toolbox)
    return hashlib.sha256(json.dumps(described).encode()).hexdigest()[:16]


def may_write(tool: Tool[..., Any]) -> bool:
    """Whether running a call of `tool` twice could do something twice (undeclared counts)."""
    return not (tool.is_read_only or tool.idempotent)


def held_calls(
    calls: Sequence[ToolCall], toolbox: Toolbox, pending: set[str]
) -> tuple[list[str], list[str]]:
    """Of `pending` calls (waiting for a person), and those that must wait with them.

    A call that comes after a pending call and conflicts with it (or with a call that waits
    for one) waits too: running it first would break the model's order. So does a plan after a
    pending call, whatever its steps touch. Returns the pending ids in call order, and the ids
    that wait for them.
    """
    if not pending:
        return [], []
    scheduler = Scheduler()
    for call in calls:
        scheduler.add(access=_access(call, toolbox))
    held: set[int] = set()
    waiting: list[str] = []
    for number, call in enumerate(calls):
        if call.id in pending:
            held.add(number)
        elif (call.name == PLAN_TOOL and held) or any(
            p in held for p in scheduler.predecessors(number)
        ):
            held.add(number)
            waiting.append(call.id)
    return [c.id for c in calls if c.id in pending], waiting


class Approvals:
    """Which calls wait for a person: tools made so, and those an agent's policy names."""

    def __init__(self, policy: ApprovalPolicy | None) -> None:
        self.policy = policy

    def needed(self, call: ToolCall, tool: Tool[..., Any]) -> bool:
        return tool.requires_approval or (self.policy is not None and self.policy(call, tool))

    def holds(self, toolbox: Toolbox) -> Holds:
        """Of a message's calls: those waiting for approval, and those waiting with them."""

        def holds(calls: Sequence[ToolCall]) -> tuple[list[str], list[str]]:
            asking = {
                c.id for c in calls if (t := toolbox.get(c.name)) is not None and self.needed(c, t)
            }
            return held_calls(calls, toolbox, asking)

        return holds


def _access(call: ToolCall, toolbox: Toolbox) -> Access:
    tool = toolbox.get(call.name)
    if tool is None:
        return NO_ACCESS
    try:
        return tool.access(parse_arguments(call.arguments, tool=call.name))
    except ArgumentError:
        return NO_ACCESS  # it is answered with an error, never run


class RunLog:
    """Records one run in a journal (or, with none, only names each call for idempotency)."""

    def __init__(self, journal: Journal | None, run_id: str) -> None:
        self.journal = journal
        self.run_id = run_id
        self.turn = 0
        self.attempt = 0
        self.waiting: tuple[str, ...] = ()
        """Calls held with those waiting for approval, when the run paused."""

    # -- the run ------------------------------------------------------------------------------

    async def hold(self) -> None:
        """Renew the run's lease while it runs (until cancelled), so no one takes it over."""
        while self.journal is not None:
            await asyncio.sleep(LEASE_SECONDS / 3)
            with contextlib.suppress(Exception):  # a missed renewal is retried next time
                await self.journal.renew(self.run_id)

    async def begin(
        self,
        prompt: str,
        history: Iterable[Message],
        *,
        model: str,
        instructions: str | None,
        toolbox: Toolbox,
    ) -> None:
        """Record the run's start (durable): a second run with this id is refused."""
        if self.journal is None:
            return
        header = RunHeader(
            prompt=prompt,
            history=tuple(from_message(m) for m in history),
            model=model,
            instructions=instructions,
            tools=tuple(toolbox.names),
            fingerprint=tools_fingerprint(toolbox),
        )
        await self.journal.begin(self.run_id, prompt, encode(header))

    def _append(self, record: Record, *, durable: bool = False) -> Awaitable[None] | None:
        if self.journal is None:
            return None
        pending = self.journal.append(self.run_id, encode(record), durable=durable)
        return pending if durable else None

    async def record(self, record: Record, *, durable: bool) -> None:
        """Add any record to the run's journal (on disk before returning, if `durable`)."""
        pending = self._append(record, durable=durable)
        if pending is not None:
            await pending

    async def end(self, output: str) -> None:
        if self.journal is not None:
            self._append(EndRecord(status="finished", output=output))
            await self.journal.end(self.run_id, "finished", output=output, error=None)

    async def fail(self, error: BaseException) -> None:
        """Record that the run stopped on an error (it may be resumed)."""
        if self.journal is None:
            return
        why = f"{type(error).__name__}: {error}"
        self._append(EndRecord(status="failed", error=why))
        await self.journal.end(self.run_id, "failed", output=None, error=why)

    async def pause(self, pending: Sequence[str], waiting: Sequence[str]) -> None:
        """Record that the run waits for a person's decision on `pending` calls."""
        assert self.journal is not None
        self._append(
            PausedRecord(
                turn=self.turn, attempt=self.attempt, pending=tuple(pending), waiting=tuple(waiting)
            )
        )
        self._append(EndRecord(status="paused"))
        await self.journal.end(self.run_id, "paused", output=None, error=None)

    # -- a turn (the `TurnRecorder` the turn loop calls) ----------------------------------------

    def start_attempt(self, index: int, attempt: int) -> None:
        self.turn, self.attempt = index, attempt

    def before_start(self, call: ToolCall, tool: Tool[..., Any]) -> Awaitable[None] | None:
        """Name the call for idempotency; record that it starts (durable if it may write)."""
        _call_key.set(f"{self.run_id}/{self.turn}/{call.id}")
        if self.journal is None:
            return None
        writes = may_write(tool)
        data = from_call(call)
        record = StartedRecord(
            turn=self.turn,
            attempt=self.attempt,
            call_id=call.id,
            tool=tool.name,
            arguments=data.arguments,
            writes=writes,
            idempotent=tool.idempotent,
        )
        return self._append(record, durable=writes)

    def finished(self, result: ToolResult) -> None:
        self._append(
            FinishedRecord(turn=self.turn, attempt=self.attempt, result=from_result(result))
        )

    def message(self, message: ModelTurn) -> None:
        """The model's response, recorded before any call of it may write."""
        self._append(TurnRecord(turn=self.turn, attempt=self.attempt, message=from_turn(message)))

    async def turn_ended(self, stats: TurnStats) -> None:
        """Every call has its result: make the turn durable before the model is asked again."""
        if self.journal is None:
            return
        record = TurnEnded(turn=self.turn, attempt=self.attempt, stats=_jsonable(asdict(stats)))
        await self.record(record, durable=True)


def _jsonable(value: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(json.dumps(value, default=str))
    return result
