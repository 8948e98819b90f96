"""Every result a call can get, and the words a model reads in it, in one place.

Whatever happens to a call, it gets one `ToolResult`: the value its tool returned, or why it has
none (the tool raised or timed out; it was never run because of another call, of its arguments,
of a person; it was cancelled; its process died). The executor and the agent decide which; this
module words it, so that every message says what happened and what the model can do about it,
and reads the same wherever the decision was made.
"""

from __future__ import annotations

import asyncio
import difflib
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from ._call import ErrorKind, ToolCall, ToolResult
from ._content import UnserializableResult, cap, cap_parts, render, render_parts, wire_safe
from ._errors import OutcomeUnknown
from ._parts import Output, Part, ToolError, media_parts

__all__ = [
    "AttemptTimeout",
    "CancelledInThread",
    "NeverStarted",
    "after_lingering",
    "cancelled",
    "cancelled_waiting",
    "denied",
    "dependency_failed",
    "duplicate_id",
    "error_result",
    "failed",
    "interrupted",
    "missing_dependencies",
    "not_recorded",
    "on_a_cycle",
    "outcome_unknown",
    "shared",
    "unknown_tool",
    "unprepared",
    "value_result",
]


# -- what stops an attempt -------------------------------------------------------------------


class AttemptTimeout(TimeoutError):
    """One attempt ran past the tool's timeout (a `TimeoutError`, so it can be retried)."""

    def __init__(self, seconds: float, *, in_thread: bool = False) -> None:
        super().__init__(f"did not finish within {seconds:g} s")
        self.seconds = seconds
        self.in_thread = in_thread
        """The body runs on in a thread that cannot be stopped."""


class NeverStarted(Exception):
    """A sync call waited its whole timeout for a worker thread and never ran."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"no worker thread was free within {seconds:g} s")
        self.seconds = seconds


class CancelledInThread(asyncio.CancelledError):
    """A sync call was cancelled while its thread ran: the function goes on, and may take effect."""


# -- the body ran ----------------------------------------------------------------------------


def error_result(call: ToolCall, kind: ErrorKind, message: str, **fields: Any) -> ToolResult:
    """An error result for `call`: `message` is what the model reads."""
    return ToolResult(
        call_id=call.id,
        name=call.name,
        content=wire_safe(message),
        is_error=True,
        error_kind=kind,
        **fields,
    )


def value_result(
    call: ToolCall,
    value: Any,
    started: float,
    ended: float,
    attempts: int,
    hedges: int,
    max_chars: int,
) -> ToolResult:
    """What a tool returned, as text (and media) for the model, cut to `max_chars`."""
    parts: tuple[Part, ...] | None = None
    kind = type(value)
    try:
        if kind is str:  # most results: text, or nothing, which need no look for media
            content = value
        elif value is None:
            content = "null"
        else:
            parts = media_parts(value)
            content = render(value) if parts is None else render_parts(parts)
    except (UnserializableResult, TypeError) as exc:
        # Its tracebacks show volley's rendering only, and would link the result (`f_back`)
        # to the frames of the call's task, and so to its batch.
        exc.__traceback__ = exc.__context__ = None
        return error_result(
            call,
            ErrorKind.INVALID_RESULT,
            f"{call.name} ran, but its result could not be turned into text "
            f"({type(value).__name__}: {exc}); its effects, if any, have happened.",
            value=value,
            started_at=started,
            ended_at=ended,
            attempts=attempts,
            hedges=hedges,
            exception=exc,
        )
    if parts is not None:
        parts = cap_parts(parts, max_chars)
        if type(value) is Output:
            value = value.value
        has_media = any(not isinstance(part, str) for part in parts)
        return ToolResult(
            call.id,
            call.name,
            cap(content, max_chars),
            value,
            started_at=started,
            ended_at=ended,
            attempts=attempts,
            parts=parts if has_media else (),
            hedges=hedges,
        )
    if len(content) > max_chars or not content.isascii():  # else `cap` has nothing to do
        content = cap(content, max_chars)
    # Positional, in field order: keywords cost more than the rest of a no-op call's result.
    result = ToolResult(call.id, call.name, content, value, False, None, started, ended, attempts)
    if hedges:
        result.hedges = hedges
    return result


def failed(
    call: ToolCall,
    exc: BaseException,
    *,
    started: float,
    ended: float,
    attempts: int,
    hedges: int,
) -> ToolResult:
    """The result of a body that raised `exc` (after any retries), in words for the model."""
    name = call.name
    times: dict[str, Any] = {"started_at": started, "ended_at": ended}
    if isinstance(exc, AttemptTimeout):
        kind, message = ErrorKind.TIMEOUT, _timed_out(name, exc, attempts)
    elif isinstance(exc, NeverStarted):
        kind = ErrorKind.TIMEOUT
        message = (
            f"{name} did not start within {exc.seconds:g} s: every worker thread was busy, so "
            "it never ran. Try it again later."
        )
        times, attempts = {}, attempts - 1
    elif isinstance(exc, OutcomeUnknown):  # the backend lost the body mid-run
        kind = ErrorKind.OUTCOME_UNKNOWN
        message = (
            f"{name} may or may not have taken effect: {exc}. It was not run again: check "
            "whether it did before calling it again."
        )
    elif isinstance(exc, ToolError):  # the tool's own words for the model
        kind, message = ErrorKind.EXCEPTION, str(exc) or f"{name} failed{_after(attempts)}"
    else:
        kind = ErrorKind.EXCEPTION
        message = f"{name} failed{_after(attempts)}: {type(exc).__name__}: {exc}"
    return error_result(
        call, kind, message, attempts=attempts, hedges=hedges, exception=exc, **times
    )


def after_lingering(call: ToolCall, timeout: float, still: Sequence[ToolCall]) -> ToolResult:
    """A call that waited its whole timeout for conflicting calls whose threads run on."""
    named = ", ".join(f"{c.id!r} ({c.name})" for c in still)
    return error_result(
        call,
        ErrorKind.TIMEOUT,
        f"{call.name} did not start within {timeout:g} s: it must run after call {named}, "
        "which outlived its timeout and is still running in its thread; starting now could "
        "be undone when that call ends. It never ran.",
    )


def interrupted(call: ToolCall, exc: BaseException) -> ToolResult:
    """A body stopped by `KeyboardInterrupt` or `SystemExit` raised around it, not by it."""
    return error_result(
        call, ErrorKind.EXCEPTION, f"Interrupted: {type(exc).__name__}", exception=exc
    )


def not_recorded(call: ToolCall, exc: Exception) -> ToolResult:
    """A call whose start could not be recorded first (a journal's failure): it never ran."""
    return error_result(
        call,
        ErrorKind.EXCEPTION,
        f"{call.name} was not run: it could not be recorded first ({type(exc).__name__}: {exc})",
        exception=exc,
    )


# -- the body never ran ----------------------------------------------------------------------


def unknown_tool(name: object, names: list[str]) -> str:
    """Why a call of a tool that is not there cannot run, with the closest name if one is."""
    plausible = isinstance(name, str) and len(name) <= 200  # difflib is quadratic
    close = (
        difflib.get_close_matches(name, names, n=1) if isinstance(name, str) and plausible else []
    )
    hint = f" Did you mean {close[0]!r}?" if close else ""
    listed = ", ".join(names[:50]) + (", ..." if len(names) > 50 else "")
    shown = repr(name) if plausible else f"{repr(name)[:80]}... (not a tool name)"
    return f"Unknown tool {shown}.{hint} Available tools: {listed or '(none)'}."


def unprepared(name: str, exc: Exception) -> tuple[ErrorKind, str]:
    """Why a call whose preparation raised (a tool's own validator, a bug) cannot run."""
    return (
        ErrorKind.INVALID_ARGUMENTS,
        f"Arguments for {name} could not be read ({type(exc).__name__}: {exc}); "
        "send one plain JSON object with the arguments.",
    )


def duplicate_id(call: ToolCall, first: int) -> ToolResult:
    """A call whose id call number `first` (from 1) of the batch already has."""
    return error_result(
        call,
        ErrorKind.DUPLICATE_ID,
        f"Not run: call id {call.id!r} is already used by call #{first} of this batch; every "
        "call needs its own id.",
    )


def dependency_failed(call: ToolCall, failed_call: ToolCall, result: ToolResult) -> ToolResult:
    """A call that cannot run because `failed_call`, which it needs, did not succeed."""
    why = result.error_kind or "error"
    return error_result(
        call,
        ErrorKind.DEPENDENCY_FAILED,
        f"Not run: it depends on call {failed_call.id!r} ({failed_call.name}), "
        f"which did not succeed ({why}).",
    )


def missing_dependencies(call: ToolCall, missing: Sequence[str]) -> tuple[ErrorKind, str]:
    """Why a call waiting for ids no call of the batch has can never run."""
    names = ", ".join(repr(m) for m in missing)
    return (
        ErrorKind.DEPENDENCY_FAILED,
        f"Not run: it depends on {names}, which is not a call in this batch.",
    )


def on_a_cycle(path: str) -> tuple[ErrorKind, str]:
    """Why a call whose dependencies lead back to it (`a -> b -> a`) can never run."""
    return (
        ErrorKind.DEPENDENCY_CYCLE,
        f"Not run: its dependencies form a cycle ({path}), so it could never start.",
    )


def shared(call: ToolCall, original: ToolResult) -> ToolResult:
    """The result of an identical read, answered with the result of the one that ran."""
    return replace(original, call_id=call.id, duplicate_of=original.call_id)


def cancelled(call: ToolCall, when: str, **fields: Any) -> ToolResult:
    """The result of a call cancelled `when` (with its times, if it had started)."""
    return error_result(call, ErrorKind.CANCELLED, f"Cancelled {when}; it has no result.", **fields)


def cancelled_waiting() -> tuple[ErrorKind, str]:
    """Why a call cancelled while it waited for the calls it needs never ran."""
    return ErrorKind.CANCELLED, "Cancelled before it started; it has no result."


def outcome_unknown(call: ToolCall) -> ToolResult:
    """A call that may write and was running when its run's process stopped: not run again."""
    return error_result(
        call,
        ErrorKind.OUTCOME_UNKNOWN,
        f"{call.name} was running when the run was interrupted (its process stopped), so it "
        "may or may not have taken effect. It was not run again: check whether it did before "
        "calling it again.",
    )


def denied(call: ToolCall) -> ToolResult:
    """A call a person did not approve."""
    return error_result(
        call,
        ErrorKind.DENIED,
        f"A person did not approve this call of {call.name}, so it did not run.",
    )


def _timed_out(name: str, exc: AttemptTimeout, attempts: int) -> str:
    if exc.in_thread:
        return (
            f"{name} did not finish within {exc.seconds:g} s{_after(attempts)}. It is still "
            "running in its thread (a thread cannot be stopped) and may yet take effect; calls "
            "that conflict with it wait until it returns."
        )
    return f"{name} did not finish within {exc.seconds:g} s and was stopped{_after(attempts)}."


def _after(attempts: int) -> str:
    return f" after {attempts} attempts" if attempts > 1 else ""
