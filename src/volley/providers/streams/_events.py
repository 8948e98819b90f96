"""The neutral events every stream assembler emits, whatever the wire format.

A streaming consumer only needs three facts as they happen: text to show, a call whose arguments
are complete (so it can start now, while the model is still writing), and the end of the message.
Everything else in a provider's stream is bookkeeping that the assemblers absorb.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeAlias

from ..._call import ToolCall
from ..._errors import StreamError
from ..._messages import StopReason, Usage

__all__ = [
    "CallComplete",
    "CallDelta",
    "IncompleteCall",
    "NeutralEvent",
    "StreamError",
    "TextDelta",
    "TurnEnd",
]


@dataclass(frozen=True, slots=True)
class TextDelta:
    """A piece of the text the model is writing (never thinking text)."""

    text: str
    """The next piece of the text."""


@dataclass(frozen=True, slots=True)
class CallComplete:
    """A tool call whose arguments are complete: it may start now.

    Emitted exactly once per call, at the earliest event that proves the call is finished, so a
    caller can dispatch it while the model keeps streaming later calls.
    """

    call: ToolCall
    """The call, with the tool's own name (mapped back from the wire name)."""
    index: int
    """Its position among the turn's calls (0 for the first call), independent of wire indexes."""


@dataclass(frozen=True, slots=True)
class CallDelta:
    """More of the argument text of a call still being written.

    Only for the tools an assembler `watch`es: a caller that can act on part of a call's
    arguments (a plan's first steps, while the model writes the rest) asks for them; everyone
    else waits for `CallComplete`, which follows as usual.
    """

    id: str
    """The call's id."""
    name: str
    """The tool's own name."""
    text: str
    """The next piece of the argument text (never empty)."""


@dataclass(frozen=True, slots=True)
class TurnEnd:
    """The model's message ended (the stream may still carry trailing usage or a sentinel)."""

    stop: StopReason
    """Why the model stopped: `end`, `tool_calls`, `max_tokens`, `refused` or `other`."""
    usage: Usage
    """Usage as known at this event; `finish()` has the final figures if usage comes later."""
    model: str
    """The model that answered, as the stream named it ("" if it did not)."""


NeutralEvent: TypeAlias = TextDelta | CallDelta | CallComplete | TurnEnd
"""What `feed` returns, in stream order."""


@dataclass(frozen=True, slots=True)
class IncompleteCall:
    """A call the model began but never finished (the stream was cut or hit max tokens).

    It is never dispatched: its arguments are a prefix of what the model meant to write.
    """

    id: str
    """The call's id as far as it arrived ("" if none did)."""
    name: str
    """The tool's own name as far as it arrived."""
    arguments: str
    """The argument text received so far."""
    wire_index: int
    """The index the wire format gave the call (block, tool-call or output index)."""


_ADAPTERS: dict[Any, Any] = {}


def validated(kind: Any, event: object, what: str) -> Any:
    """`event` as the SDK type `kind`: SDK objects pass unchanged, dicts are validated.

    Dicts go through pydantic validation rather than `construct` so that a malformed event is
    reported here, as a `StreamError`, instead of as an `AttributeError` deep in an assembler.
    SDK objects are trusted: the SDK built them from a real response.

    Raises:
        StreamError: `event` is neither an SDK object nor a dict that validates as a `kind`.
    """
    import pydantic

    if isinstance(event, pydantic.BaseModel):
        return event
    if not isinstance(event, dict):
        raise StreamError(f"expected a {what} event (an SDK object or a dict), got {event!r}")
    adapter = _ADAPTERS.get(kind)
    if adapter is None:
        adapter = _ADAPTERS[kind] = pydantic.TypeAdapter(kind)
    try:
        return adapter.validate_python(event)
    except pydantic.ValidationError as exc:
        raise StreamError(f"not a valid {what} event: {_first_error(exc)}; got {event!r}") from exc
    except (AttributeError, TypeError, ValueError) as exc:  # an SDK validator that chokes itself
        raise StreamError(f"not a valid {what} event ({exc}); got {event!r}") from exc


def _first_error(exc: Any) -> str:
    errors = exc.errors()
    if not errors:
        return str(exc)
    first = errors[0]
    where = ".".join(str(p) for p in first.get("loc", ()))
    return f"{where}: {first.get('msg', '')}" if where else str(first.get("msg", ""))
