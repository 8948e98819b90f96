"""Every exception volley raises, in one place, under one base.

A model's mistakes are never exceptions: they become results the model reads. What is raised is
what the caller must act on: a setup that cannot work (`ConfigurationError`), or a run that
stopped before the model answered (`RunError` and its kinds), which always carries the
conversation so far, valid to send again, so a caller who retries does not repeat the writes that
already happened.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal, TypeAlias

from ._messages import Message, ModelTurn
from ._stats import RunStats

__all__ = [
    "ArgumentError",
    "ConfigurationError",
    "FailureKind",
    "IncompleteTurn",
    "MaxTurnsExceeded",
    "MissingExtra",
    "OutcomeUnknown",
    "ProviderError",
    "RunError",
    "StreamError",
    "VolleyError",
]


class VolleyError(Exception):
    """The base of every exception volley raises."""


class ArgumentError(VolleyError, ValueError):
    """A call's arguments cannot be given to its tool; the message says why, for the model.

    Inside a batch it never escapes: it becomes the call's `invalid_arguments` result. Raised by
    `Tool.validate` and `Tool.parse` for code that checks arguments itself.
    """


class ConfigurationError(VolleyError, ValueError):
    """volley was set up in a way that cannot work (a model string, a missing API key).

    Raised where the setup is made, before any request is sent or any tool runs.
    """


class MissingExtra(VolleyError, ImportError):
    """An optional dependency is not installed; the message names the extra that brings it."""


class OutcomeUnknown(VolleyError):
    """Raised by a backend that lost a call body while it ran (its worker process died).

    Whether the call took effect is not known: the call's result says so
    (`error_kind="outcome_unknown"`) and it is never retried, since running a write again could
    do it twice. A backend raises `ConnectionError` instead for a call it knows is safe to run
    again (one that only reads, or is idempotent), so the tool's retries apply.
    """


class StreamError(VolleyError):
    """A streamed response that cannot be a valid one: cut, garbage, events out of order, silent.

    The message says which event and why, so a log line is enough to see what the server sent.
    Inside a run it is never raised to the caller: the turn is asked again, and when retries run
    out the run raises `IncompleteTurn`.
    """


class RunError(VolleyError):
    """A run that stopped before the model answered; the transcript so far is kept.

    `messages` ends with the last complete turn (every call in it answered), so it is valid to
    send again; `__cause__` is what went wrong underneath.
    """

    def __init__(
        self, message: str, messages: Sequence[Message] = (), stats: RunStats | None = None
    ) -> None:
        super().__init__(message)
        self.messages: list[Message] = list(messages)
        """The conversation up to the last complete turn: valid to send again."""
        self.stats: RunStats = stats if stats is not None else RunStats((), 0.0)
        """The figures of the turns that completed."""

    def with_transcript(self, messages: Sequence[Message], stats: RunStats) -> RunError:
        """Attach the run's transcript (an error raised below the agent loop has none yet)."""
        self.messages = list(messages)
        self.stats = stats
        return self


class MaxTurnsExceeded(RunError):
    """The model kept calling tools past `max_turns`."""

    def __init__(self, max_turns: int, messages: Sequence[Message], stats: RunStats) -> None:
        super().__init__(
            f"the model was still calling tools after {max_turns} turns; raise max_turns, or "
            "read .messages to see what it was doing",
            messages,
            stats,
        )


class IncompleteTurn(RunError):
    """The model's message was cut (max tokens), refused, or its stream kept breaking.

    None of its calls ran to completion (those started early were cancelled) and it is not in
    `messages`, so the conversation never holds a call without its result.
    """

    def __init__(
        self,
        reason: str,
        turn: ModelTurn | None,
        messages: Sequence[Message],
        stats: RunStats,
    ) -> None:
        index = len(stats.turns) + 1
        super().__init__(f"turn {index} could not be used: {reason}", messages, stats)
        self.turn = turn
        """What arrived of the message, if it arrived whole."""


FailureKind: TypeAlias = Literal[
    "rejected", "rate_limited", "server", "connection", "timeout", "encoding", "other"
]
"""Why a request to the provider failed."""


class ProviderError(RunError):
    """A request to the model failed: refused, rate limited, a server error, no connection, slow.

    Raised once the SDK's own retries are spent (configure them on the client you pass in).
    `kind` says which (`"rejected"`: the provider refused the request, a 400 say, and sending it
    again will not help; the others may pass). Raised from inside a run, it carries the run's
    transcript like every `RunError`; raised by an adapter used alone, `messages` is empty.
    """

    def __init__(
        self,
        provider: str,
        message: str,
        *,
        kind: FailureKind = "rejected",
        status: int | None = None,
        request: Mapping[str, Any] | None = None,
    ) -> None:
        what = f"rejected the request ({status})" if kind == "rejected" else _FAILED[kind]
        super().__init__(f"{provider} {what}: {message}")
        self.provider = provider
        """The provider and model, as `provider:model`."""
        self.detail = message
        """What the provider (or the SDK) said."""
        self.kind: FailureKind = kind
        self.status = status
        """The HTTP status, where there was one."""
        self.request = dict(request) if request is not None else {}
        """The parameters that were sent, so the cause can be found in them."""

    @property
    def retryable(self) -> bool:
        """Whether the same request may succeed later (everything but a refusal or bad input)."""
        return self.kind not in ("rejected", "encoding")


_FAILED: dict[str, str] = {
    "rate_limited": "kept rate-limiting the request",
    "server": "failed with a server error",
    "connection": "could not be reached",
    "timeout": "did not answer in time",
    "encoding": "could not be sent the request",
    "other": "failed",
}
