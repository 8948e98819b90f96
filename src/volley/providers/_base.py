"""What every provider adapter offers the agent loop."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from .._call import ToolCall
from .._errors import MissingExtra, ProviderError, StreamError
from .._messages import Message, ModelTurn
from .._tool import Tool

__all__ = [
    "ModelRequest",
    "Provider",
    "ProviderError",
    "StreamingProvider",
    "arguments_text",
    "missing_extra",
    "relay",
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

    def stream(self, request: ModelRequest) -> AsyncIterator[Any]:
        """One streamed round trip, as neutral events and then the whole turn.

        Yields `TextDelta`, `CallComplete` (each call the moment it is whole), `CallDelta` (for
        the tools in `request.streamed_arguments`) and `TurnEnd` from
        `volley.providers.streams`, then the `ModelTurn` that `complete` would have returned. A
        stream that breaks after the request was accepted raises `StreamError`.
        """
        ...


class _Assembler(Protocol):
    def feed(self, event: object) -> list[Any]: ...

    def finish(self) -> ModelTurn: ...


async def relay(
    events: Any,
    assembler: _Assembler,
    *,
    passthrough: tuple[type[Exception], ...] = (),
    lazy: bool = False,
) -> AsyncIterator[Any]:
    """Feed an SDK stream to an assembler: its neutral events as they come, then the turn.

    Anything that goes wrong once the stream has been opened (a dropped connection, a read
    timeout) is raised as a `StreamError`: the request was accepted, so it is the stream that
    broke, and a caller may ask again. `passthrough` errors are the adapter's own to map. With
    `lazy` (genai sends its request only when the first chunk is read), a connection that cannot
    be made, or a timeout, before the first event is the request's failure, raised as it is.

    The stream is closed however the caller stops, to free its connection: with `async with`
    where the SDK's stream has it (Anthropic, OpenAI), else with `aclose()` (genai's streams are
    bare async generators).
    """
    own: tuple[type[Exception], ...] = (StreamError, *passthrough)
    began = not lazy
    async with _closing(events):
        try:
            async for event in events:
                began = True
                for neutral in assembler.feed(event):
                    yield neutral
        except own:
            raise
        except Exception as exc:
            if not began and _failed_to_ask(exc):
                raise
            raise StreamError(f"the stream broke: {type(exc).__name__}: {exc}") from exc
    yield assembler.finish()


def _failed_to_ask(exc: Exception) -> bool:
    """Whether an HTTP library's error means the request never got an answer at all."""
    name = type(exc).__name__
    return "Connect" in name or "Timeout" in name or isinstance(exc, TimeoutError)


def _closing(stream: Any) -> contextlib.AbstractAsyncContextManager[Any]:
    if hasattr(stream, "__aenter__"):
        return stream  # type: ignore[no-any-return]
    if hasattr(stream, "aclose"):
        return contextlib.aclosing(stream)
    return contextlib.nullcontext(stream)


def arguments_text(call: ToolCall) -> str:
    """A call's arguments as JSON text, as the model wrote them when it wrote text."""
    if isinstance(call.arguments, str):
        return call.arguments
    return json.dumps(dict(call.arguments))


def missing_extra(package: str, extra: str) -> ImportError:
    """The one-line error for an optional dependency that is not installed."""
    return MissingExtra(f"{package} is not installed: pip install 'volley-tools[{extra}]'")
