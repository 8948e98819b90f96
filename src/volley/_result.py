"""What an agent run produced: its answer, its conversation, its figures, and how it ended."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ._call import ToolCall
from ._messages import Message
from ._stats import RunStats, TurnStats

__all__ = ["RunResult"]


@dataclass(frozen=True, slots=True)
class RunResult:
    """What an agent run produced."""

    output: str
    """The model's final answer (empty while the run is paused)."""
    messages: list[Message]
    """The whole conversation, in neutral form; valid to send again (`message_history=`)."""
    stats: RunStats
    """Figures of the run: round trips, calls per turn, time saved, tokens."""
    run_id: str = ""
    """The run's id: in the journal, and in each call's idempotency key."""
    status: Literal["finished", "paused"] = "finished"
    """`"paused"`: some calls wait for a person's approval (`agent.resume(run_id, approvals=)`)."""
    pending_approvals: tuple[ToolCall, ...] = ()
    """The calls waiting for approval, in the model's order (empty unless paused)."""

    @property
    def turns(self) -> tuple[TurnStats, ...]:
        """Each round trip's figures."""
        return self.stats.turns
