"""What every provider adapter offers the agent loop."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from .._messages import Message, ModelTurn
from .._tool import Tool

__all__ = ["ModelRequest", "Provider"]


@dataclass(frozen=True, slots=True)
class ModelRequest:
    """One round trip's worth of input, in neutral form."""

    messages: Sequence[Message]
    """The conversation so far, oldest first."""
    tools: Sequence[Tool[..., Any]]
    """The tools the model may call."""
    instructions: str | None = None
    """The system prompt."""
    parallel: bool = True
    """Whether the model may ask for several calls in one turn (where the provider can say so)."""
    max_tokens: int | None = None
    """A cap on the tokens the model writes in this turn (the adapter's default if `None`)."""


class Provider(Protocol):
    """A model behind a wire format."""

    @property
    def name(self) -> str:
        """`provider:model`, for figures and logs."""
        ...

    async def complete(self, request: ModelRequest) -> ModelTurn:
        """Send one request; return the model's turn in neutral form.

        Transport errors and rate limits are the adapter's (and its SDK's) to retry; a request the
        provider rejects raises, naming what it rejected.
        """
        ...
