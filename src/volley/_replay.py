"""A run read back from its journal, and what a resume does with each of its calls.

Reading rebuilds the conversation from the records: the prompt, and every turn whose end was
recorded, with its results. A turn whose response was recorded but whose end was not is the
open turn: the one a crash (or a pause for approval) interrupted. For each of its calls,
`decide` applies the rules of resuming:

- finished: its recorded result is used, it never runs again;
- started but unfinished, and it only reads or is idempotent: it runs again;
- started but unfinished, and it may write: it is not run again; the model is told its outcome
  is unknown (`outcome_unknown`) and should be checked;
- never started: it runs as usual (after a person's approval, if it needs one).

A response that was never recorded is simply asked for again.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ._call import ErrorKind, ToolCall, ToolResult
from ._messages import Message, ModelTurn, ToolReturns, UserPrompt
from ._results import denied, outcome_unknown
from ._stats import BatchStats, CallTiming, TurnStats
from ._tool import Tool
from ._toolbox import Toolbox
from .journal import JournalCorrupt, StoredRecord
from .journal._codec import (
    ApprovalRecord,
    EndRecord,
    FinishedRecord,
    PausedRecord,
    RunHeader,
    StartedRecord,
    TurnEnded,
    TurnRecord,
    decode,
    to_messages,
    to_result,
    to_turn,
)

__all__ = ["Decisions", "OpenTurn", "Replay", "decide", "replay"]

Key = tuple[int, int]
"""A turn and the attempt at it whose records these are."""


@dataclass
class OpenTurn:
    """A recorded response whose calls had not all been answered."""

    index: int
    attempt: int
    message: ModelTurn
    results: dict[str, ToolResult] = field(default_factory=dict)
    """Calls that finished (cancelled ones are not final, and are left out)."""
    started: dict[str, StartedRecord] = field(default_factory=dict)
    paused: PausedRecord | None = None


@dataclass
class Replay:
    """A run as its journal tells it."""

    header: RunHeader
    messages: list[Message]
    """The conversation up to the last turn that ended: valid to send again."""
    turns: list[TurnStats]
    open: OpenTurn | None
    end: EndRecord | None
    """The last end recorded (finished, paused or failed), if any."""
    approvals: dict[str, bool]

    @property
    def next_index(self) -> int:
        """The index of the next turn to play (the open turn's, if there is one)."""
        if self.open is not None:
            return self.open.index
        return len(self.turns) + 1


def replay(run_id: str, stored: list[StoredRecord]) -> Replay:
    """Read a run's records back.

    Raises:
        JournalCorrupt: a record cannot be understood, or the records contradict each other.
    """
    if not stored:
        raise JournalCorrupt(f"run {run_id!r} has no records")
    first = decode(stored[0].data, run_id=run_id, seq=stored[0].seq)
    if not isinstance(first, RunHeader):
        raise JournalCorrupt(f"run {run_id!r}: its first record is a {first.kind!r}, not 'run'")
    responses: list[TurnRecord] = []
    started: dict[Key, dict[str, StartedRecord]] = {}
    finished: dict[Key, dict[str, ToolResult]] = {}
    ended: dict[Key, TurnEnded] = {}
    paused: dict[Key, PausedRecord] = {}
    approvals: dict[str, bool] = {}
    end: EndRecord | None = None
    for item in stored[1:]:
        record = decode(item.data, run_id=run_id, seq=item.seq)
        if isinstance(record, TurnRecord):
            responses.append(record)
        elif isinstance(record, StartedRecord):
            started.setdefault((record.turn, record.attempt), {})[record.call_id] = record
        elif isinstance(record, FinishedRecord):
            result = to_result(record.result)
            if result.error_kind is not ErrorKind.CANCELLED:
                finished.setdefault((record.turn, record.attempt), {})[result.call_id] = result
        elif isinstance(record, TurnEnded):
            ended[(record.turn, record.attempt)] = record
        elif isinstance(record, PausedRecord):
            paused[(record.turn, record.attempt)] = record
        elif isinstance(record, ApprovalRecord):
            approvals[record.call_id] = record.approved
        elif isinstance(record, EndRecord):
            end = record
        else:
            raise JournalCorrupt(f"run {run_id!r}, record {item.seq}: a second 'run' record")
    messages = [*to_messages(first.history), UserPrompt(first.prompt)]
    turns: list[TurnStats] = []
    open_turn: OpenTurn | None = None
    for response in responses:
        key = (response.turn, response.attempt)
        message = to_turn(response.message)
        if response.turn != len(turns) + 1 or open_turn is not None:
            raise JournalCorrupt(
                f"run {run_id!r}: turn {response.turn} recorded after {len(turns)} ended turns"
                + (" and an unfinished one" if open_turn is not None else "")
            )
        done = finished.get(key, {})
        if key not in ended:
            open_turn = OpenTurn(
                response.turn, response.attempt, message, done, started.get(key, {}),
                paused.get(key),
            )  # fmt: skip
            continue
        missing = [call.id for call in message.calls if call.id not in done]
        if missing:
            raise JournalCorrupt(
                f"run {run_id!r}: turn {response.turn} ended without results for {missing}"
            )
        messages.append(message)
        if message.calls:
            messages.append(ToolReturns(tuple(done[call.id] for call in message.calls)))
        turns.append(turn_stats(ended[key].stats, response.turn, len(message.calls)))
    return Replay(first, messages, turns, open_turn, end, approvals)


def turn_stats(data: Mapping[str, Any], index: int, calls: int) -> TurnStats:
    """A turn's figures as recorded; only the counts if they cannot be read back."""
    try:
        fields = dict(data)
        batch = fields.pop("batch", None)
        timeline = fields.pop("timeline", ())
        return TurnStats(
            **fields,
            batch=BatchStats(**batch) if batch is not None else None,
            timeline=tuple(CallTiming(**t) for t in timeline),
        )
    except (TypeError, ValueError):
        return TurnStats(index, calls, 0.0, 0.0, 0.0, 0, 0)


@dataclass
class Decisions:
    """What becomes of each call of an open turn."""

    answered: dict[str, ToolResult]
    """Results known now: recorded, unknown outcomes, denials."""
    run: list[ToolCall]
    """Calls to run (again, or for the first time)."""
    pending: list[str]
    """Calls still waiting for a decision."""


def decide(
    open_turn: OpenTurn,
    toolbox: Toolbox,
    approvals: Mapping[str, bool],
    needs_approval: Callable[[ToolCall, Tool[..., Any]], bool],
    calls: Sequence[ToolCall] | None = None,
) -> Decisions:
    """Apply the rules of resuming (see the module's docstring) to each call of the turn.

    `calls` are the calls the batch runs, if not the message's own (a plan's steps).
    """
    answered: dict[str, ToolResult] = {}
    run: list[ToolCall] = []
    pending: list[str] = []
    for call in open_turn.message.calls if calls is None else calls:
        if call.id in answered:
            continue  # a repeated id: answered once, as the batch answers it
        recorded = open_turn.results.get(call.id)
        begun = open_turn.started.get(call.id)
        tool = toolbox.get(call.name)
        if recorded is not None:
            answered[call.id] = recorded
        elif begun is not None:
            if begun.writes:
                answered[call.id] = outcome_unknown(call)
            else:
                run.append(call)
        elif tool is not None and needs_approval(call, tool):
            decision = approvals.get(call.id)
            if decision is None:
                pending.append(call.id)
            elif decision:
                run.append(call)
            else:
                answered[call.id] = denied(call)
        else:
            run.append(call)
    return Decisions(answered, run, pending)
