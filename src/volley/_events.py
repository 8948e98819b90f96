"""What `Agent.run_stream` tells a UI as a run happens, in the order it happens.

A run starts with `RunStarted` and ends with `RunFinished` or, if it raised, `RunFailed`. Every
event of a turn names it (1 for the first), so a UI can group them. A turn's events come as: text
deltas and calls starting (interleaved while the model streams), calls finishing (possibly before
the message has ended), then `TurnFinished`. If a
streamed message breaks, `TurnRetried` says that the text and calls shown for that turn are void.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeAlias

from ._call import ToolCall, ToolResult
from ._messages import ModelTurn
from ._result import RunResult
from ._stats import TurnStats

__all__ = [
    "CallFinished",
    "CallProgress",
    "CallStarted",
    "RunEvent",
    "RunFailed",
    "RunFinished",
    "RunPaused",
    "RunStarted",
    "TextDelta",
    "TurnFinished",
    "TurnRetried",
    "events_of",
]


@dataclass(frozen=True, slots=True)
class RunStarted:
    """The first event of every run."""

    prompt: str
    """What the user said."""
    model: str
    """The provider and model, as `provider:model`."""
    at: float
    """When, on the run's clock."""


@dataclass(frozen=True, slots=True)
class TextDelta:
    """A piece of the text the model is writing."""

    turn: int
    """The turn it belongs to (1 for the first)."""
    text: str
    """The next piece of the text."""


@dataclass(frozen=True, slots=True)
class CallStarted:
    """A call was handed to the executor; it runs as soon as no conflict or dependency blocks it."""

    turn: int
    """The turn it belongs to (1 for the first)."""
    call: ToolCall
    """The call, arguments included."""
    at: float
    """When, on the run's clock."""
    early: bool
    """Whether it started while the model was still writing the message."""


@dataclass(frozen=True, slots=True)
class CallFinished:
    """A call has its result (maybe while other calls, or the message, are still going)."""

    turn: int
    """The turn it belongs to (1 for the first)."""
    result: ToolResult
    """The result, with `started_at`, `ended_at` and `duration`."""


@dataclass(frozen=True, slots=True)
class CallProgress:
    """A running call said how far it is (`volley.report_progress`, an MCP server's progress)."""

    turn: int
    """The turn it belongs to (1 for the first)."""
    call_id: str
    """The call's id."""
    name: str
    """The tool's name."""
    progress: float
    """How much is done, in the tool's own unit."""
    total: float | None
    """How much there is to do, if the tool knows."""
    message: str | None
    """What the tool said it is doing, if anything."""
    at: float
    """When, on the run's clock."""


@dataclass(frozen=True, slots=True)
class TurnRetried:
    """The streamed message broke: what was shown for this turn is void, and it is asked again.

    Calls that had started early were cancelled; none of it reaches the conversation.
    """

    turn: int
    """The turn asked again (1 for the first)."""
    error: str
    """Why the stream was thrown away."""


@dataclass(frozen=True, slots=True)
class TurnFinished:
    """The model's message and all of its calls' results: one round trip."""

    turn: int
    """The turn (1 for the first)."""
    message: ModelTurn
    """The model's whole message."""
    results: tuple[ToolResult, ...]
    """One per call, in call order (sent back to the model as one message)."""
    stats: TurnStats
    """The turn's figures."""


@dataclass(frozen=True, slots=True)
class RunPaused:
    """Some calls wait for a person's approval; `RunFinished` (status `"paused"`) follows."""

    run_id: str
    """The run's id, to resume it with (`agent.resume(run_id, approvals=...)`)."""
    pending: tuple[ToolCall, ...]
    """The calls waiting for a decision, in the model's order."""
    waiting: tuple[str, ...]
    """Ids of calls that conflict with a pending one, held until it is decided."""


@dataclass(frozen=True, slots=True)
class RunFinished:
    """The model answered without calling a tool: the last event of a run."""

    result: RunResult
    """What `run` returns (with status `"paused"` after a `RunPaused`)."""


@dataclass(frozen=True, slots=True)
class RunFailed:
    """The last event of a run that raised (the error is then raised to the caller too)."""

    error: BaseException
    """`IncompleteTurn`, `MaxTurnsExceeded`, a `ProviderError`, a cancellation..."""
    at: float
    """When, on the run's clock."""


RunEvent: TypeAlias = (
    RunStarted
    | TextDelta
    | CallStarted
    | CallFinished
    | CallProgress
    | TurnRetried
    | TurnFinished
    | RunPaused
    | RunFinished
    | RunFailed
)
"""Anything `Agent.run_stream` yields."""


async def events_of(
    run: Callable[[Callable[[RunEvent], None]], Awaitable[Any]],
) -> AsyncGenerator[RunEvent, None]:
    """The events `run(emit)` emits, as they come; then what it raised, if it raised.

    Leaving the iteration early cancels the run.
    """
    events: asyncio.Queue[RunEvent | None] = asyncio.Queue()

    async def run_and_close() -> None:
        try:
            await run(events.put_nowait)
        finally:
            events.put_nowait(None)

    task = asyncio.create_task(run_and_close())
    try:
        while (event := await events.get()) is not None:
            yield event
        await task  # raises what the run raised
    finally:
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
