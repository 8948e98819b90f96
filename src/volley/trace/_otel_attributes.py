"""The names and attributes of the OpenTelemetry spans, from volley's figures (see `otel`).

Pure mapping, no OpenTelemetry import: what each span is called and which `gen_ai.*` and
`volley.*` attributes it carries, content only when it is to be captured.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeAlias

from .._call import ErrorKind, ToolCall, ToolResult
from .._errors import ConfigurationError
from .._events import TurnFinished
from .._messages import ModelTurn
from ..providers._resolve import parse_compatible

if TYPE_CHECKING:
    from opentelemetry.util.types import AttributeValue

    from .._result import RunResult

Attributes: TypeAlias = dict[str, "AttributeValue"]

PROVIDER_NAMES = {
    "anthropic": "anthropic",
    "openai": "openai",
    "openai-responses": "openai",
    "gemini": "gcp.gemini",
}
"""Volley's provider prefixes as the conventions' well-known `gen_ai.provider.name` values.

Any other prefix (`openai-compatible`, `function`) is kept as it is: the conventions allow a
custom value when none of theirs applies, and an OpenAI-compatible server may host anything.
"""

FINISH_REASONS = {
    "end": "stop",
    "tool_calls": "tool_call",
    "max_tokens": "length",
    "refused": "content_filter",
}
"""`ModelTurn.stop` as the conventions' finish reasons (`other` stays `other`)."""


def split_model(model: str | None) -> tuple[str | None, str | None, str]:
    """`provider:model` as (`gen_ai.provider.name`, request model, operation name).

    `openai-compatible:<base_url>:<model>` names the model after its base URL.
    """
    if not model:
        return None, None, "chat"
    prefix, sep, name = model.partition(":")
    if not sep:
        return None, model, "chat"
    if prefix == "openai-compatible":  # its base URL holds colons: the model comes after it
        with contextlib.suppress(ConfigurationError):  # else not a model volley could have run
            name = parse_compatible(model)[1]
    operation = "generate_content" if prefix == "gemini" else "chat"
    return PROVIDER_NAMES.get(prefix, prefix), name or None, operation


@dataclass(frozen=True, slots=True)
class Naming:
    """What an observer calls its spans and puts on all of them: the same for every run."""

    agent_name: str | None
    capture_content: bool
    operation: str
    """`chat`, or `generate_content` for Gemini."""
    model: Attributes = field(default_factory=dict)
    """`gen_ai.provider.name` and `gen_ai.request.model`, those that are known."""
    chat_name: str = "chat"

    @classmethod
    def of(cls, agent_name: str | None, model: str | None, capture_content: bool) -> Naming:
        provider, request_model, operation = split_model(model)
        attributes: Attributes = {}
        if provider is not None:
            attributes["gen_ai.provider.name"] = provider
        if request_model is not None:
            attributes["gen_ai.request.model"] = request_model
        chat_name = f"{operation} {request_model}" if request_model else operation
        return cls(agent_name, capture_content, operation, attributes, chat_name)

    @property
    def run_name(self) -> str:
        return f"invoke_agent {self.agent_name}" if self.agent_name else "invoke_agent"


def to_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


def arguments(call: ToolCall) -> Any:
    """The call's arguments as an object: the conventions ask to parse JSON text if one can."""
    if isinstance(call.arguments, str):
        try:
            return json.loads(call.arguments)
        except ValueError:
            return call.arguments
    return dict(call.arguments)


def error_type(result: ToolResult) -> str:
    """A failed call's `error.type`: the exception's class if the tool raised, else the kind."""
    if result.error_kind is ErrorKind.EXCEPTION and result.exception is not None:
        return type(result.exception).__qualname__
    return str(result.error_kind or "_OTHER")


def describe(error: BaseException) -> str:
    """An exception as a status description."""
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


# -- per span ----------------------------------------------------------------------------------


def run_started(naming: Naming, prompt: str) -> Attributes:
    attributes: Attributes = {"gen_ai.operation.name": "invoke_agent", **naming.model}
    if naming.agent_name:
        attributes["gen_ai.agent.name"] = naming.agent_name
    if naming.capture_content:
        attributes["gen_ai.input.messages"] = to_json(
            [{"role": "user", "parts": [{"type": "text", "content": prompt}]}]
        )
    return attributes


def run_finished(naming: Naming, result: RunResult) -> Attributes:
    stats = result.stats
    attributes: Attributes = {
        "gen_ai.usage.input_tokens": stats.input_tokens,
        "gen_ai.usage.output_tokens": stats.output_tokens,
        "volley.run.turns": stats.round_trips,
        "volley.run.calls": stats.calls,
        "volley.run.time_saved": stats.time_saved,
        "volley.run.early_dispatch_saved": stats.early_dispatch_saved,
    }
    if naming.capture_content:
        attributes["gen_ai.output.messages"] = to_json(
            [
                {
                    "role": "assistant",
                    "parts": [{"type": "text", "content": result.output}],
                    "finish_reason": "stop",
                }
            ]
        )
    return attributes


def turn(event: TurnFinished) -> Attributes:
    stats = event.stats
    return {
        "volley.turn.index": event.turn,
        "volley.turn.calls": stats.calls,
        "volley.turn.retries": stats.retries,
        "volley.turn.streamed": stats.streamed,
        "volley.turn.failed_calls": stats.batch.failed if stats.batch else 0,
        "volley.turn.peak_concurrency": stats.batch.peak_concurrency if stats.batch else 0,
        "volley.turn.time_saved": stats.time_saved,
        "volley.turn.early_dispatch_saved": stats.early_dispatch_saved,
    }


def chat(naming: Naming, message: ModelTurn, streamed: bool) -> Attributes:
    finish = FINISH_REASONS.get(message.stop, message.stop)
    attributes: Attributes = {
        "gen_ai.operation.name": naming.operation,
        **naming.model,
        "gen_ai.request.stream": streamed,
        "gen_ai.response.finish_reasons": (finish,),
        "gen_ai.usage.input_tokens": message.usage.input_tokens,
        "gen_ai.usage.output_tokens": message.usage.output_tokens,
    }
    if message.model:
        attributes["gen_ai.response.model"] = message.model
    if naming.capture_content:
        parts: list[dict[str, Any]] = []
        if message.text:
            parts.append({"type": "text", "content": message.text})
        parts.extend(
            {"type": "tool_call", "id": c.id, "name": c.name, "arguments": arguments(c)}
            for c in message.calls
        )
        attributes["gen_ai.output.messages"] = to_json(
            [{"role": "assistant", "parts": parts, "finish_reason": finish}]
        )
    return attributes


def tool(
    naming: Naming,
    name: str,
    call_id: str,
    call: ToolCall | None,
    result: ToolResult | None,
    ran: bool,
    early: bool | None,
    waited: float | None,
) -> Attributes:
    """An `execute_tool` span's attributes, but for its outcome (see `tool_outcome`)."""
    attributes: Attributes = {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": name,
        "gen_ai.tool.call.id": call_id,
        "gen_ai.tool.type": "function",
        "volley.tool.call.ran": ran,
    }
    if early is not None:
        attributes["volley.tool.call.early"] = early
    if waited is not None:
        attributes["volley.tool.call.waited"] = waited
    if result is not None and result.attempts:
        attributes["volley.tool.call.attempts"] = result.attempts
    if result is not None and result.hedges:
        attributes["volley.tool.call.hedges"] = result.hedges
    if result is not None and result.duplicate_of is not None:
        attributes["volley.tool.call.duplicate_of"] = result.duplicate_of
    if naming.capture_content and call is not None:
        attributes["gen_ai.tool.call.arguments"] = to_json(arguments(call))
    return attributes


def tool_outcome(
    naming: Naming, result: ToolResult | None
) -> tuple[Attributes, tuple[str, str] | None]:
    """What a call's result adds to its span, and (`error.type`, description) if it failed."""
    if result is None:
        return {}, ("unfinished", "the call had no result when the run stopped")
    if result.is_error:
        kind = error_type(result)
        description = result.content if naming.capture_content and result.content else kind
        return {"volley.error_kind": str(result.error_kind or "error")}, (kind, description)
    if naming.capture_content:
        return {"gen_ai.tool.call.result": result.content}, None
    return {}, None
