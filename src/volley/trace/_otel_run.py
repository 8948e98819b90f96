"""The spans of one agent run, built from its events as they come (see `otel`)."""

from __future__ import annotations

import time
from collections import defaultdict, deque
from collections.abc import Mapping
from dataclasses import dataclass, field

from opentelemetry import context as otel_context
from opentelemetry.trace import Link, Span, SpanKind, Status, StatusCode, Tracer
from opentelemetry.trace import set_span_in_context as in_span

from .._call import ToolCall, ToolResult
from .._events import (
    CallFinished,
    CallProgress,
    CallStarted,
    RunEvent,
    RunFailed,
    RunFinished,
    RunStarted,
    TurnFinished,
    TurnRetried,
)
from .._messages import ModelTurn
from . import _otel_attributes as attrs
from ._model import MAX_PROGRESS
from ._otel_attributes import Attributes, Naming


@dataclass(slots=True)
class _Seen:
    """One call as its events told it, within one attempt of a turn."""

    call: ToolCall | None = None
    started: float | None = None
    """`CallStarted.at`: when it was handed to the executor."""
    early: bool | None = None
    result: ToolResult | None = None
    produced: float | None = None
    """The latest time the run had reported when the result arrived: when a result with no
    times of its own (never ran, or shared another call's) came to exist."""
    progress: list[CallProgress] = field(default_factory=list)


@dataclass(slots=True)
class _Attempt:
    """What one attempt of a turn's message started and finished (a broken stream is retried)."""

    seen: list[_Seen] = field(default_factory=list)
    waiting: defaultdict[str, deque[_Seen]] = field(default_factory=lambda: defaultdict(deque))
    by_result: dict[int, _Seen] = field(default_factory=dict)

    def started(self, event: CallStarted) -> None:
        seen = _Seen(event.call, event.at, event.early)
        self.seen.append(seen)
        self.waiting[event.call.id].append(seen)

    def finished(self, result: ToolResult, now: float) -> None:
        queue = self.waiting.get(result.call_id)
        if queue:
            seen = queue.popleft()
        else:  # a result whose start was not told
            seen = _Seen()
            self.seen.append(seen)
        seen.result = result
        seen.produced = now
        self.by_result[id(result)] = seen


def _interval(result: ToolResult | None) -> tuple[float, float] | None:
    """When the call's own body ran; `None` if it never did (or shared another call's result)."""
    if result is None or result.duplicate_of is not None:
        return None
    if result.started_at is None or result.ended_at is None:
        return None
    return result.started_at, result.ended_at


def _clamp(t: float | None, lo: float, hi: float) -> float:
    """`t` within [lo, hi]; `lo` if unknown (a span must lie within its parent's interval)."""
    return lo if t is None else min(max(t, lo), hi)


def _fail(span: Span, error_type: str, description: str) -> None:
    span.set_attribute("error.type", error_type)
    span.set_status(Status(StatusCode.ERROR, description))


class Run:
    """The spans of one run: `invoke_agent` from its first event to its last, turns as they end.

    Every time is on the agent's clock; `RunStarted` happens at its `at`, which ties that clock
    to `time.time_ns()` once for the whole run.
    """

    def __init__(self, tracer: Tracer, naming: Naming, outer: Run | None) -> None:
        self.tracer = tracer
        self.naming = naming
        self.outer = outer
        """The run this one's context held before it started (a run inside a run's task)."""
        self.span: Span | None = None
        self.anchor = (0.0, 0)
        """(agent time, epoch ns) of `RunStarted`."""
        self.started = self.latest = 0.0
        self.prev_end: float | None = None
        """When the last finished turn ended."""
        self.turn = 1
        """The turn in progress."""
        self.attempt = _Attempt()
        self.void: list[tuple[_Seen, int]] = []
        """Calls of broken attempts of this turn, with the attempt's number (1 for the first)."""
        self.retries: list[tuple[float, str]] = []
        self.input_tokens = self.output_tokens = self.calls = 0

    def ns(self, t: float) -> int:
        at, wall = self.anchor
        return wall + round((t - at) * 1e9)

    def saw(self, t: float | None) -> None:
        if t is not None and t > self.latest:
            self.latest = t

    def start(self, event: RunStarted) -> None:
        """Open the run span, under whatever span is current where the run was started."""
        self.anchor = (event.at, time.time_ns())
        self.started = self.latest = event.at
        self.span = self.tracer.start_span(
            self.naming.run_name,
            otel_context.get_current(),
            SpanKind.INTERNAL,
            attrs.run_started(self.naming, event.prompt),
            start_time=self.ns(event.at),
        )

    def on_event(self, event: RunEvent) -> None:
        if self.span is None:  # its start failed: nothing to hang spans on
            return
        if isinstance(event, CallStarted):
            self.saw(event.at)
            self.attempt.started(event)
        elif isinstance(event, CallProgress):
            waiting = self.attempt.waiting.get(event.call_id)
            if waiting and len(waiting[0].progress) < MAX_PROGRESS:
                waiting[0].progress.append(event)
        elif isinstance(event, CallFinished):
            self.saw(event.result.started_at)
            self.saw(event.result.ended_at)
            self.attempt.finished(event.result, self.latest)
        elif isinstance(event, TurnRetried):
            number = len(self.retries) + 1
            self.void.extend((seen, number) for seen in self.attempt.seen)
            self.retries.append((self.latest, event.error))
            self.attempt = _Attempt()
        elif isinstance(event, TurnFinished):
            self.turn_finished(self.span, event)
        elif isinstance(event, RunFinished):
            self.span.set_attributes(attrs.run_finished(self.naming, event.result))
            self.span.end(self.ns(self.latest))
        elif isinstance(event, RunFailed):
            self.failed(self.span, event)

    # -- the end of a turn, or of a run that raised ----------------------------------------------

    def turn_finished(self, run_span: Span, event: TurnFinished) -> None:
        stats, message = event.stats, event.message
        self.saw(stats.started_at)
        self.saw(stats.ended_at)
        lo, hi = stats.started_at, stats.ended_at
        turn = self.child("volley.turn", run_span, lo, attrs.turn(event))
        self.chat_span(turn, message, stats.streamed, lo, stats.message_ended_at)
        self.void_spans(turn, lo, hi)
        spans: dict[str, Span] = {}
        for index, result in enumerate(event.results):
            seen = self.attempt.by_result.get(id(result))
            call = message.calls[index] if index < len(message.calls) else None
            timing = stats.timeline[index] if index < len(stats.timeline) else None
            ran = timing is not None and _interval(result) is not None
            waited = timing.waited if timing is not None and ran else None
            span = self.tool_span(turn, call, result, seen, lo, hi, waited=waited, links=spans)
            spans.setdefault(result.call_id, span)
        turn.end(self.ns(hi))
        self.input_tokens += stats.input_tokens
        self.output_tokens += stats.output_tokens
        self.calls += stats.calls
        self.prev_end = hi
        self.turn = event.turn + 1
        self.attempt = _Attempt()
        self.void = []
        self.retries = []

    def failed(self, run_span: Span, event: RunFailed) -> None:
        """End the run as ERROR with its exception, and what was seen of its unfinished turn."""
        self.saw(event.at)
        start = self.prev_end if self.prev_end is not None else self.started
        end = max(start, self.latest)
        if self.void or self.retries or self.attempt.seen:
            attributes: Attributes = {
                "volley.turn.index": self.turn,
                "volley.turn.retries": len(self.retries),
                "volley.turn.finished": False,
            }
            turn = self.child("volley.turn", run_span, start, attributes)
            self.void_spans(turn, start, end)
            for seen in self.attempt.seen:
                self.tool_span(turn, None, seen.result, seen, start, end)
            _fail(turn, "_OTHER", "the turn did not finish")
            turn.end(self.ns(end))
        run_span.set_attributes(
            {
                "gen_ai.usage.input_tokens": self.input_tokens,
                "gen_ai.usage.output_tokens": self.output_tokens,
                "volley.run.calls": self.calls,
                "volley.run.finished": False,
            }
        )
        error = event.error
        run_span.record_exception(error, timestamp=self.ns(end))
        _fail(run_span, type(error).__qualname__, attrs.describe(error))
        run_span.end(self.ns(end))

    # -- spans ---------------------------------------------------------------------------------

    def child(
        self,
        name: str,
        parent: Span,
        at: float,
        attributes: Attributes,
        *,
        kind: SpanKind = SpanKind.INTERNAL,
        links: tuple[Link, ...] = (),
    ) -> Span:
        return self.tracer.start_span(
            name, in_span(parent), kind, attributes, links=links, start_time=self.ns(at)
        )

    def chat_span(
        self, turn: Span, message: ModelTurn, streamed: bool, lo: float, hi: float
    ) -> None:
        naming = self.naming
        attributes = attrs.chat(naming, message, streamed)
        span = self.child(naming.chat_name, turn, lo, attributes, kind=SpanKind.CLIENT)
        for number, (at, error) in enumerate(self.retries, start=1):
            span.add_event(
                "volley.stream_retried",
                {"volley.retry": number, "volley.retry.reason": error},
                timestamp=self.ns(_clamp(at, lo, hi)),
            )
        span.end(self.ns(hi))

    def void_spans(self, turn: Span, lo: float, hi: float) -> None:
        for seen, attempt in self.void:
            extra: Attributes = {"volley.tool.call.void": True, "volley.tool.call.attempt": attempt}
            self.tool_span(turn, seen.call, seen.result, seen, lo, hi, extra=extra)

    def tool_span(
        self,
        turn: Span,
        call: ToolCall | None,
        result: ToolResult | None,
        seen: _Seen | None,
        lo: float,
        hi: float,
        *,
        waited: float | None = None,
        links: Mapping[str, Span] | None = None,
        extra: Attributes | None = None,
    ) -> Span:
        """One call's span: the tool body's own interval, or an instant if the body never ran."""
        if call is None and seen is not None:
            call = seen.call
        name = result.name if result is not None else call.name if call is not None else "?"
        call_id = result.call_id if result is not None else call.id if call is not None else ""
        interval = _interval(result)
        if interval is not None:
            start, end = _clamp(interval[0], lo, hi), _clamp(interval[1], lo, hi)
        else:  # an instant, when its result came to exist: it has no interval of its own
            at = None
            if seen is not None:
                at = seen.produced if seen.produced is not None else seen.started
            start = end = _clamp(at, lo, hi)
        early = seen.early if seen is not None else None
        ran = interval is not None
        attributes = attrs.tool(self.naming, name, call_id, call, result, ran, early, waited)
        outcome, failure = attrs.tool_outcome(self.naming, result)
        attributes.update(outcome)
        if extra:
            attributes.update(extra)
        original = result.duplicate_of if result is not None else None
        link_to = links.get(original) if links and original is not None else None
        span = self.child(
            f"execute_tool {name}",
            turn,
            start,
            attributes,
            links=(Link(link_to.get_span_context()),) if link_to is not None else (),
        )
        if failure is not None:
            _fail(span, *failure)
        for report in seen.progress if seen is not None else ():
            said: Attributes = {"volley.progress": report.progress}
            if report.total is not None:
                said["volley.progress.total"] = report.total
            if report.message is not None:
                said["volley.progress.message"] = report.message
            span.add_event("volley.progress", said, timestamp=self.ns(_clamp(report.at, lo, hi)))
        span.end(self.ns(end))
        return span
