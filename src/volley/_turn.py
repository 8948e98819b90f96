"""One round trip: ask the model, run its calls (as they stream, where safe), collect the results.

A turn whose message cannot be trusted never reaches the conversation. A stream that breaks
after it began, or falls silent, is asked again (`retries` times), its early calls cancelled; a
message cut by the token limit, or refused, has calls whose arguments may be a prefix of what the
model meant (or calls left out altogether, as Gemini leaves a cut call out), so none of them runs
and the turn is abandoned: the conversation never holds an unanswered call.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from ._call import ToolCall, ToolResult
from ._dispatch import EarlyDispatch
from ._errors import ProviderError
from ._events import CallFinished, CallProgress, CallStarted, RunEvent, TextDelta, TurnRetried
from ._executor import Executor
from ._messages import ModelTurn
from ._plan import Plans
from ._progress import Progress, ProgressListener
from ._stats import TurnStats, call_timeline
from ._tool import Tool
from .providers import ModelRequest, Provider, StreamingProvider, streams

__all__ = ["Holds", "PlayedTurn", "TurnAbandoned", "TurnRecorder", "play_turn"]

Emit = Callable[[RunEvent], None]

Holds = Callable[[Sequence[ToolCall]], tuple[list[str], list[str]]]
"""Of a message's calls: those waiting for a person, and those that must wait with them."""


class TurnRecorder(Protocol):
    """Told what happens in a turn, to keep a durable record of it (see `_durable.RunLog`)."""

    def start_attempt(self, index: int, attempt: int) -> None: ...

    def before_start(self, call: ToolCall, tool: Tool[..., Any]) -> Awaitable[None] | None: ...

    def finished(self, result: ToolResult) -> None: ...

    def message(self, message: ModelTurn) -> None: ...


UNUSABLE_STOPS = {
    "max_tokens": (
        "the model ran out of output tokens before its message ended (a call it was writing "
        "was cut or left out); raise max_tokens"
    ),
    "refused": "the provider stopped the message (a refusal or content filter) mid-way",
}


@dataclass(frozen=True, slots=True)
class Patience:
    """How long to wait for the model: a whole round trip, and a stream's silences."""

    request: float | None
    """The whole round trip, streamed or not, SDK retries included."""
    idle: float | None
    """The longest silence of a stream: before its first event, and between two events."""


class TurnAbandoned(Exception):
    """The model's message could not be used; none of its calls ran to completion."""

    def __init__(self, reason: str, message: ModelTurn | None) -> None:
        super().__init__(reason)
        self.message = message
        """What arrived of the message, if it arrived whole (cut by max tokens, say)."""


class _BrokenStream(Exception):
    """The stream stopped or turned to garbage after it began."""


@dataclass(frozen=True, slots=True)
class PlayedTurn:
    """A message whose calls all have results."""

    message: ModelTurn
    results: tuple[ToolResult, ...]
    """One per call that ran, in call order: every call, unless some are held."""
    stats: TurnStats
    pending: tuple[str, ...] = ()
    """Calls waiting for a person's approval (they have no result yet)."""
    waiting: tuple[str, ...] = ()
    """Calls that come after a pending one and conflict with it: they wait with it."""


async def play_turn(
    model: Provider,
    request: ModelRequest,
    executor: Executor,
    *,
    index: int,
    clock: Callable[[], float],
    emit: Emit | None,
    stream: bool,
    retries: int,
    patience: Patience = Patience(None, None),
    recorder: TurnRecorder | None = None,
    holds: Holds | None = None,
    plans: Plans | None = None,
) -> PlayedTurn:
    """Ask the model once (more if its stream breaks), run the calls, return all results.

    With `plans`, a `run_plan` call runs as its steps, each a call of the batch; its result
    gathers theirs (and is recorded, so the turn replays as the model saw it).

    Raises:
        TurnAbandoned: the message was cut or refused, or kept breaking; nothing of it counts.
        ProviderError: the request failed, or took longer than `patience.request`.
    """
    started = clock()
    on_result = _on_result(index, emit, recorder)
    before_start = None if recorder is None else recorder.before_start
    on_start = None if emit is None else _announce(index, clock, emit)
    on_progress = None if emit is None else _progress(index, clock, emit)
    for attempt in range(retries + 1):
        if recorder is not None:
            recorder.start_attempt(index, attempt)
        dispatch = EarlyDispatch(
            lambda: executor.batch(
                on_result=on_result, on_progress=on_progress, before_start=before_start
            ),
            executor.toolbox,
            clock,
            on_start=on_start,
            plans=plans,
        )
        try:
            async with asyncio.timeout(patience.request) as whole:
                if stream:
                    message, message_ended = await _stream(
                        model, request, dispatch, index, clock, emit, patience.idle
                    )
                else:
                    message = await model.complete(request)
                    message_ended = clock()
        except TimeoutError as exc:
            await dispatch.abandon()
            if not whole.expired():
                raise
            raise ProviderError(
                model.name,
                f"no whole answer within {patience.request:g} s (request_timeout)",
                kind="timeout",
            ) from exc
        except _BrokenStream as exc:
            await dispatch.abandon()
            if attempt == retries:
                raise TurnAbandoned(f"{exc} (asked {retries + 1} times)", None) from exc
            if emit is not None:
                emit(TurnRetried(index, str(exc)))
            continue
        except BaseException:
            await dispatch.abandon()
            raise
        if message.stop in UNUSABLE_STOPS and (message.calls or request.tools):
            # With tools offered, a cut message may have lost the call it was writing.
            await dispatch.abandon()
            raise TurnAbandoned(UNUSABLE_STOPS[message.stop], message)
        if recorder is not None:
            recorder.message(message)
        pending, waiting = holds(message.calls) if holds is not None else ([], [])
        held = {*pending, *waiting}
        running = [c for c in message.calls if c.id not in held] if held else message.calls
        dispatch.release(running)
        results = await dispatch.results(running)
        if recorder is not None:
            for gathered in dispatch.plan_results:
                recorder.finished(gathered)
        batch = dispatch.batch
        stats = TurnStats(
            index=index,
            calls=len(message.calls) + len(dispatch.ran) - len(results),  # a plan: its steps
            started_at=started,
            message_ended_at=message_ended,
            ended_at=clock() if results else message_ended,
            input_tokens=message.usage.input_tokens,
            output_tokens=message.usage.output_tokens,
            batch=batch.stats if batch is not None else None,
            streamed=stream,
            timeline=call_timeline(dispatch.ran, dispatch.arrived, default=message_ended),
            retries=attempt,
        )
        return PlayedTurn(message, tuple(results), stats, tuple(pending), tuple(waiting))
    raise AssertionError("unreachable: the last attempt returns or raises")


def _on_result(
    index: int, emit: Emit | None, recorder: TurnRecorder | None
) -> Callable[[ToolResult], None] | None:
    if recorder is None:
        return None if emit is None else lambda r: emit(CallFinished(index, r))
    if emit is None:
        return recorder.finished

    def on_result(result: ToolResult) -> None:
        recorder.finished(result)
        emit(CallFinished(index, result))

    return on_result


def _announce(
    index: int, clock: Callable[[], float], emit: Emit
) -> Callable[[ToolCall, bool], None]:
    def on_start(call: ToolCall, early: bool) -> None:
        emit(CallStarted(index, call, clock(), early))

    return on_start


def _progress(index: int, clock: Callable[[], float], emit: Emit) -> ProgressListener:
    def on_progress(p: Progress) -> None:
        emit(CallProgress(index, p.call_id, p.name, p.progress, p.total, p.message, clock()))

    return on_progress


async def _stream(
    model: Provider,
    request: ModelRequest,
    dispatch: EarlyDispatch,
    index: int,
    clock: Callable[[], float],
    emit: Emit | None,
    idle: float | None,
) -> tuple[ModelTurn, float]:
    """Read a streamed message, handing each complete call to `dispatch` as it arrives.

    Adapters raise a `StreamError` for a stream that broke after it was accepted; anything
    else (a refused request, an error the SDK's retries did not cure) is raised as it is. A
    stream silent for longer than `idle` counts as broken.
    """
    assert isinstance(model, StreamingProvider)
    stream = streams.ModelStream(model.stream(request))
    message_ended: float | None = None
    try:
        while True:
            try:
                async with asyncio.timeout(idle):
                    event = await anext(stream)
            except StopAsyncIteration:
                break
            except TimeoutError as exc:
                raise _BrokenStream(f"the stream fell silent for {idle:g} s") from exc
            match event:
                case streams.CallComplete(call=call):
                    dispatch.call_complete(call)
                case streams.CallDelta(id=call_id, name=name, text=text):
                    dispatch.call_delta(call_id, name, text)
                case streams.TextDelta(text=text):
                    if emit is not None:
                        emit(TextDelta(index, text))
                case streams.TurnEnd():
                    message_ended = clock()
        message = stream.turn
    except streams.StreamError as exc:
        raise _BrokenStream(str(exc)) from exc
    finally:
        await stream.aclose()  # free its connection, whatever stopped the reading
    if message_ended is None:
        raise _BrokenStream("the stream ended before the message did")
    return message, message_ended
