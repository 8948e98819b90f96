"""The streaming contract: assemblers fed an SDK's events, and one streamed message as read.

A provider's stream is produced as neutral events followed by the whole turn (`relay` does that
for the four adapters; a provider of one's own may simply yield them). It is read through a
`ModelStream`, which keeps the two apart and typed: `async for` gives the events as they come,
and `turn` gives the message once the stream has ended, so a reader never sorts one from the
other.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any, Protocol

from ..._call import ToolCall
from ..._errors import StreamError
from ..._messages import ModelTurn, StopReason, Usage
from ._events import CallComplete, NeutralEvent, TextDelta, TurnEnd

__all__ = ["Assembler", "ModelStream", "TurnParts", "relay"]


class Assembler(Protocol):
    """Turns one wire format's stream events into neutral events, then the whole turn.

    Pure: no I/O and no event loop; the caller owns the stream and feeds its events one by one.
    The four assemblers of `volley.providers.streams` are ones; so is one of your own.

    Example:
        ```python
        def read(assembler: Assembler, raw_events: list[object]) -> ModelTurn:
            for raw in raw_events:
                for event in assembler.feed(raw):
                    print(event)
            return assembler.finish()
        ```
    """

    watch: frozenset[str]
    """Tools whose calls' argument text is reported piece by piece (`CallDelta`)."""

    def feed(self, event: object) -> list[NeutralEvent]:
        """The neutral events `event` completes, in order (often none)."""
        ...

    def finish(self) -> ModelTurn:
        """The whole turn, as the non-streaming adapter would have returned it."""
        ...


class TurnParts:
    """What an assembler keeps of the message it reads, the same in every wire format.

    The text as it streams, each call as it completes (numbered in that order, from 0), the
    usage and the model as the stream tells them; the events for them are made here, and so is
    the `ModelTurn` at the end, so every format numbers, ends and builds its turn alike. A format
    whose stream holds more (Anthropic's blocks, Gemini's parts) passes the text, the calls in
    message order, and what to echo back, to `turn`.
    """

    def __init__(self) -> None:
        self.texts: list[str] = []
        self.calls: list[ToolCall] = []
        self.usage = Usage()
        self.model = ""

    def text(self, piece: str) -> list[NeutralEvent]:
        """A piece of the message's text: kept, and told (if it is not empty)."""
        self.texts.append(piece)
        return [TextDelta(piece)] if piece else []

    def call(self, call: ToolCall) -> CallComplete:
        """A call whose arguments are complete: kept, and told with its number."""
        self.calls.append(call)
        return CallComplete(call, len(self.calls) - 1)

    def end(self, stop: StopReason) -> TurnEnd:
        """The message's end, with the usage and model known so far."""
        return TurnEnd(stop, self.usage, self.model)

    def turn(
        self,
        stop: StopReason,
        *,
        text: str | None = None,
        calls: Sequence[ToolCall] | None = None,
        provider_data: Mapping[str, Any] | None = None,
    ) -> ModelTurn:
        """The whole message: the text and calls kept, unless the format says otherwise."""
        return ModelTurn(
            text="".join(self.texts) if text is None else text,
            calls=tuple(self.calls if calls is None else calls),
            stop=stop,
            usage=self.usage,
            model=self.model,
            provider_data=dict(provider_data or {}),
        )


class ModelStream:
    """One streamed message as read: its neutral events, then its turn.

    Example:
        ```python
        stream = ModelStream(provider.stream(request))
        async for event in stream:
            match event:
                case CallComplete(call=call):
                    batch.submit(call)
                case TextDelta(text=text):
                    print(text, end="")
        turn = stream.turn
        ```
    """

    def __init__(self, items: AsyncIterator[NeutralEvent | ModelTurn]) -> None:
        self._items = items
        self._turn: ModelTurn | None = None

    def __aiter__(self) -> ModelStream:
        return self

    async def __anext__(self) -> NeutralEvent:
        if self._turn is not None:
            raise StopAsyncIteration
        item = await anext(self._items)
        if isinstance(item, ModelTurn):
            self._turn = item
            raise StopAsyncIteration
        return item

    @property
    def turn(self) -> ModelTurn:
        """The whole message, once the stream has ended with it.

        Raises:
            StreamError: the stream ended (or was left) before the message did.
        """
        if self._turn is None:
            raise StreamError("the stream ended before the message did")
        return self._turn

    async def aclose(self) -> None:
        """Stop reading, and free the stream's connection."""
        aclose = getattr(self._items, "aclose", None)
        if aclose is not None:
            await aclose()


async def relay(
    events: Any,
    assembler: Assembler,
    *,
    passthrough: tuple[type[Exception], ...] = (),
    lazy: bool = False,
) -> AsyncIterator[NeutralEvent | ModelTurn]:
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
