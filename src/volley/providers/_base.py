"""What every provider adapter offers the agent loop."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from .._call import ToolCall, ToolResult
from .._errors import MissingExtra, ProviderError
from .._messages import Message, ModelTurn
from .._tool import Tool

if TYPE_CHECKING:
    from .streams import NeutralEvent

__all__ = [
    "ModelRequest",
    "Provider",
    "ProviderError",
    "StreamingProvider",
    "arguments_text",
    "missing_extra",
    "unflagged_text",
]


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
    streamed_arguments: frozenset[str] = frozenset()
    """Tools whose calls' argument text a stream reports as it comes (`streams.CallDelta`)."""


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

    async def aclose(self) -> None:
        """Release what the adapter opened itself (its SDK client's connections)."""
        ...


@runtime_checkable
class StreamingProvider(Protocol):
    """What a `Provider` also has when its messages can be read as they are written."""

    def stream(self, request: ModelRequest) -> AsyncIterator[NeutralEvent | ModelTurn]:
        """One streamed round trip, as neutral events and then the whole turn.

        Yields `TextDelta`, `CallComplete` (each call the moment it is whole), `CallDelta` (for
        the tools in `request.streamed_arguments`) and `TurnEnd` from
        `volley.providers.streams`, then, last, the `ModelTurn` that `complete` would have
        returned. A stream that breaks after the request was accepted raises `StreamError`.
        Read it through `streams.ModelStream`, which keeps the two apart: events while it
        runs, `turn` once it has ended.
        """
        ...


def arguments_text(call: ToolCall) -> str:
    """A call's arguments as JSON text, as the model wrote them when it wrote text."""
    if isinstance(call.arguments, str):
        return call.arguments
    return json.dumps(dict(call.arguments))


def unflagged_text(result: ToolResult) -> str:
    """A result's text for a format with no error flag: a failure says so in its first word.

    The model reads the leading "Error:" where other formats carry a flag (LangGraph's `ToolNode`
    words failures the same way); a text that already starts by saying so is left as it is.
    """
    content = result.content
    if result.is_error and content[:5].lower() != "error":
        return f"Error: {content}"
    return content


def missing_extra(package: str, extra: str) -> ImportError:
    """The one-line error for an optional dependency that is not installed."""
    return MissingExtra(f"{package} is not installed: pip install 'volley-tools[{extra}]'")
