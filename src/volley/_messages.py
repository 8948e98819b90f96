"""The neutral conversation: what every provider adapter converts to and from at its edge.

The agent loop only ever sees these; a wire format never leaves its adapter. Anything a provider
needs echoed back unchanged (Gemini's `thoughtSignature`, Responses' reasoning items, Anthropic's
thinking blocks) rides along opaquely in `ModelTurn.provider_data`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

from ._call import ToolCall, ToolResult

__all__ = ["Message", "ModelTurn", "StopReason", "ToolReturns", "Usage", "UserPrompt"]

StopReason: TypeAlias = Literal["end", "tool_calls", "max_tokens", "refused", "other"]


@dataclass(frozen=True, slots=True)
class Usage:
    """Tokens a request cost, as the provider reported them."""

    input_tokens: int = 0
    """Tokens the model read: the whole conversation so far, every round trip."""
    output_tokens: int = 0
    """Tokens the model wrote."""

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.input_tokens + other.input_tokens, self.output_tokens + other.output_tokens
        )


@dataclass(frozen=True, slots=True)
class UserPrompt:
    """What the user said."""

    text: str
    """The prompt."""
    kind: Literal["user"] = "user"


@dataclass(frozen=True, slots=True)
class ModelTurn:
    """One response of the model: text, the tool calls it asked for, and why it stopped."""

    text: str = ""
    """The text the model wrote (possibly empty when it only calls tools)."""
    calls: tuple[ToolCall, ...] = ()
    """The tool calls, in the order the model wrote them."""
    stop: StopReason = "end"
    """Why the model stopped: it answered, wants tool results, ran out of tokens..."""
    usage: Usage = field(default_factory=Usage)
    """What the request cost."""
    model: str = ""
    """The model that answered, as the provider named it."""
    provider_data: Mapping[str, Any] = field(default_factory=dict)
    """Whatever the adapter must send back unchanged with this turn; opaque to everyone else."""
    kind: Literal["model"] = "model"


@dataclass(frozen=True, slots=True)
class ToolReturns:
    """The results of one turn's calls, one per call, in call order: one message, always."""

    results: tuple[ToolResult, ...]
    """One result per call of the turn before, in call order."""
    kind: Literal["tools"] = "tools"


Message: TypeAlias = UserPrompt | ModelTurn | ToolReturns
"""One entry of a conversation; `kind` tells which."""
