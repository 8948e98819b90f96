"""OpenTelemetry spans for agent runs, named after the OpenTelemetry GenAI semantic conventions.

`OpenTelemetryObserver` is an `Agent` observer: it hears every `RunEvent` as it happens and
turns a run into spans with the times the run measured itself, so that calls running at the
same time show as overlapping bars in Jaeger, Tempo, Honeycomb, Langfuse and the like::

    invoke_agent {agent name}        INTERNAL  run started -> answer (or error)
    |-- volley.turn                  INTERNAL  one round trip: request sent -> last call's result
    |   |-- chat {model}             CLIENT    request sent -> whole message arrived
    |   |-- execute_tool get_weather INTERNAL  tool body started -> ended
    |   `-- execute_tool get_time    INTERNAL
    `-- volley.turn
        `-- chat {model}

Why a turn span between the agent and its chat and tool spans: the conventions make chat and
execute_tool spans siblings under `invoke_agent`, which reads well when tools run after the
message. With streaming dispatch they do not: a read starts the moment the model has written it,
so its span starts inside the chat span's interval, and the next turn's chat span would sit
among them with nothing saying which calls belong to which message. The turn span groups one
message with its calls and spans exactly `TurnStats.started_at` to `ended_at`, so its length is
the round trip and the overlap of chat and tools inside it is the time streaming saved. Tools
are not children of the chat span, because they outlive it.

Names and attributes follow the GenAI conventions as they stand in the
`open-telemetry/semantic-conventions-genai` repository (the successor of the `gen-ai` folder of
semantic-conventions; every `gen_ai.*` name there is still "Development"): `gen_ai.provider.name`
(which replaced `gen_ai.system`), `gen_ai.operation.name` (`invoke_agent`, `chat`, or
`generate_content` for Gemini, `execute_tool`), `gen_ai.request.model`, `gen_ai.response.model`,
`gen_ai.response.finish_reasons`, `gen_ai.usage.input_tokens`/`output_tokens`,
`gen_ai.request.stream`, `gen_ai.tool.name`/`call.id`/`type`, and `error.type` with an ERROR
status for failed calls. A new instrumentation has no older attribute set to keep emitting, so
only the current names are written. Content (`gen_ai.tool.call.arguments`,
`gen_ai.tool.call.result`, `gen_ai.input.messages`, `gen_ai.output.messages`, as JSON strings)
is "Opt-In" in the conventions because it may hold personal data: only with
`capture_content=True`. What the conventions have no name for is under `volley.*`.

`error.type` of a failed call is the exception's class name when the tool raised (the
conventions ask for "the canonical name of exception"), else the `ErrorKind` value: `timeout`,
`invalid_arguments`, `unknown_tool`, `dependency_failed`, `dependency_cycle`, `duplicate_id`,
`cancelled`, `invalid_result` (and `exception` if the exception is unknown).

Times: every time in an event is on the agent's clock (the loop's monotonic clock, or a virtual
one in tests), and events arrive the moment they happen. A run's `RunStarted` ties that clock to
`time.time_ns()` once; every later time of the run is converted with that one offset, so
durations and overlaps are the run's own to the nanosecond, whatever the wall clock does
meanwhile. The run span starts at `RunStarted`; the others are made when their turn ends (a
span's start time is fixed when it is made, and a turn's start is only known from
`TurnFinished`), then ended with their own times.

Runs are told apart by the task context they run in: `RunStarted` sets a context variable, which
the run's later events (and its tool tasks) see, so concurrent runs of one agent get a trace
each. The agent's own OpenTelemetry context at `RunStarted` is the run span's parent, so a run
inside a span of yours nests under it.

A run that raises (`IncompleteTurn`, `MaxTurnsExceeded`, a provider error, a cancellation) ends
with `RunFailed`: its run span is ended then, with an ERROR status and the exception recorded as
an event, and what was seen of its unfinished turn (calls started, attempts thrown away) as a
failed turn span.

Export with a `BatchSpanProcessor`: a `SimpleSpanProcessor` exports in `span.end()`, that is
inside the agent's event loop, once per span.
"""

from __future__ import annotations

import contextvars
import logging
from typing import TYPE_CHECKING

from .. import __version__
from .._events import RunEvent, RunFailed, RunFinished, RunStarted, TextDelta
from ..providers._base import missing_extra
from ._otel_attributes import Naming

if TYPE_CHECKING:
    from opentelemetry.trace import Tracer, TracerProvider

    from .._agent import Agent
    from ._otel_run import Run

__all__ = ["OpenTelemetryObserver", "instrument"]

logger = logging.getLogger(__name__)


class OpenTelemetryObserver:
    """An agent observer that records each run as OpenTelemetry spans (see the module docs).

    Args:
        tracer_provider: where spans go; the global provider (`trace.set_tracer_provider`) if
            `None`.
        agent_name: `gen_ai.agent.name`, and the run span's name `invoke_agent {agent_name}`.
        model: the agent's `provider:model` (`anthropic:claude-sonnet-4-6`), for
            `gen_ai.provider.name` and `gen_ai.request.model`; `instrument` passes the agent's.
        capture_content: record the prompt, the messages, the calls' arguments and results, and
            error messages. Off by default: they may hold personal or secret data.

    It never raises into the agent: a failure is logged (`volley.trace.otel`) and the event
    dropped. Events of a run whose `RunStarted` it did not see are ignored.
    """

    def __init__(
        self,
        tracer_provider: TracerProvider | None = None,
        *,
        agent_name: str | None = None,
        model: str | None = None,
        capture_content: bool = False,
    ) -> None:
        try:
            from opentelemetry import trace
        except ImportError:
            raise missing_extra("opentelemetry-api", "otel") from None
        self._tracer: Tracer = trace.get_tracer("volley", __version__, tracer_provider)
        self.agent_name = agent_name
        self.model = model
        self.capture_content = capture_content
        self._naming = Naming.of(agent_name, model, capture_content)
        self._current: contextvars.ContextVar[Run | None] = contextvars.ContextVar(
            f"volley_otel_run_{id(self):x}", default=None
        )
        """The run whose events this task context sees."""
        self._failures = 0

    def __call__(self, event: RunEvent) -> None:
        """Take one event of a run (called by the agent)."""
        if isinstance(event, TextDelta):  # nothing to draw
            return
        try:
            self._observe(event)
        except Exception:
            self._log_failure()

    def _observe(self, event: RunEvent) -> None:
        if isinstance(event, RunStarted):
            from ._otel_run import Run

            run = Run(self._tracer, self._naming, outer=self._current.get())
            self._current.set(run)  # first, so that a failed start does not lose the run
            run.start(event)
            return
        current = self._current.get()
        if current is None:
            return
        if isinstance(event, RunFinished | RunFailed):
            self._current.set(current.outer)
        current.on_event(event)

    def _log_failure(self) -> None:
        """Log a failure of the observer itself: the first with its traceback, then quietly."""
        self._failures += 1
        level = logging.WARNING if self._failures == 1 else logging.DEBUG
        logger.log(level, "OpenTelemetry observer failed; event dropped", exc_info=True)


def instrument(
    agent: Agent,
    tracer_provider: TracerProvider | None = None,
    *,
    agent_name: str | None = None,
    capture_content: bool = False,
    model: str | None = None,
) -> OpenTelemetryObserver:
    """Record every run of `agent` as OpenTelemetry spans; returns the observer it added.

    The provider and model come from `agent.model.name` (`provider:model`) unless `model` says
    otherwise. Call it once per agent: each call adds another observer, and so another trace.
    """
    observer = OpenTelemetryObserver(
        tracer_provider,
        agent_name=agent_name,
        model=model if model is not None else agent.model.name,
        capture_content=capture_content,
    )
    agent.observers = (*agent.observers, observer)
    return observer
