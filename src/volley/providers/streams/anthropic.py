"""Anthropic Messages streams, assembled into calls the moment each `tool_use` block closes.

The stream is `message_start`, then per content block `content_block_start`, deltas and
`content_block_stop`, then `message_delta` (stop reason, output tokens) and `message_stop`. A
`tool_use` block's input arrives as `partial_json` fragments (some empty) and is only parseable at
its `content_block_stop`: that event is the earliest point at which the call may start.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from ..._call import ToolCall
from ..._messages import ModelTurn, StopReason, Usage
from .._base import missing_extra
from .._names import ToolNames
from ._events import (
    CallDelta,
    IncompleteCall,
    NeutralEvent,
    StreamError,
    TextDelta,
    validated,
)
from ._stream import TurnParts

__all__ = ["AnthropicAssembler", "STOP_REASONS"]

_DELTA_FIELDS = {
    "text_delta": ("text", "text"),
    "thinking_delta": ("thinking", "thinking"),
}
"""Delta type -> (block type it belongs to, field it appends to)."""

STOP_REASONS: dict[str, StopReason] = {
    "end_turn": "end",
    "stop_sequence": "end",
    "tool_use": "tool_calls",
    "max_tokens": "max_tokens",
    "refusal": "refused",
}
"""The API's `stop_reason` -> the neutral stop (the adapter reads whole messages with it)."""


@dataclass
class _Block:
    content: dict[str, Any]
    """The block as the non-streaming API would have sent it, built up as deltas arrive."""
    partial_json: list[str] = field(default_factory=list)
    closed: bool = False
    call_index: int | None = None
    """Position among the turn's calls once this tool_use block completed."""


class AnthropicAssembler:
    """Turns the raw events of one Messages stream into neutral events and a `ModelTurn`.

    Feed it `anthropic.types.RawMessageStreamEvent` objects (what `messages.create(stream=True)`
    yields) or plain dicts of the same JSON, including `ping` and `error` events.

    Args:
        names: The request's tool names, to map wire names back to the tools' own names.
    """

    def __init__(self, names: ToolNames) -> None:
        try:
            from anthropic.types import RawMessageStreamEvent
        except ImportError:
            raise missing_extra("anthropic", "anthropic") from None
        self._event_type: Any = RawMessageStreamEvent
        self._names = names
        self.watch: frozenset[str] = frozenset()
        """Tools whose argument text is reported piece by piece (`CallDelta`)."""
        self._started = False
        self._stopped = False
        self._input_tokens = 0
        self._output_tokens = 0
        self._stop_reason: str | None = None
        self._blocks: dict[int, _Block] = {}
        self._turn = TurnParts()

    def feed(self, event: object) -> list[NeutralEvent]:
        """Absorb one stream event; returns what it completed, in order.

        Raises:
            StreamError: the event is malformed, out of order, or an `error` event.
        """
        if isinstance(event, dict):
            kind = event.get("type")
            if kind == "ping":
                return []
            if kind == "error":
                raise StreamError(f"the stream reported an error: {event.get('error')!r}")
        parsed = validated(self._event_type, event, "Anthropic stream")
        kind = parsed.type
        if kind == "ping":
            return []
        if kind == "message_start":
            return self._message_start(parsed)
        if not self._started:
            raise StreamError(f"{kind} before message_start")
        if self._stopped:
            raise StreamError(f"{kind} after message_stop")
        if kind == "content_block_start":
            return self._block_start(parsed)
        if kind == "content_block_delta":
            return self._block_delta(parsed)
        if kind == "content_block_stop":
            return self._block_stop(parsed)
        if kind == "message_delta":
            if parsed.delta.stop_reason is not None:
                self._stop_reason = parsed.delta.stop_reason
            usage = parsed.usage
            if usage.input_tokens is not None:
                self._input_tokens = usage.input_tokens
            self._output_tokens = usage.output_tokens
            return []
        if kind == "message_stop":
            self._stopped = True
            self._turn.usage = self._usage()
            return [self._turn.end(self._stop())]
        raise StreamError(f"unknown Anthropic stream event type {kind!r}")

    def _message_start(self, event: Any) -> list[NeutralEvent]:
        if self._started:
            raise StreamError("a second message_start in one stream")
        self._started = True
        message = event.message
        self._turn.model = message.model
        self._input_tokens = message.usage.input_tokens
        self._output_tokens = message.usage.output_tokens
        return []

    def _block_start(self, event: Any) -> list[NeutralEvent]:
        index = event.index
        if index in self._blocks:
            raise StreamError(f"content_block_start for block {index}, which already started")
        content = event.content_block.to_dict(mode="json", exclude_none=True)
        self._blocks[index] = _Block(content)
        text = content.get("text") if content.get("type") == "text" else None
        return [TextDelta(text)] if text else []

    def _open_block(self, index: int, kind: str) -> _Block:
        block = self._blocks.get(index)
        if block is None:
            raise StreamError(f"{kind} for block {index}, which never started")
        if block.closed:
            raise StreamError(f"{kind} for block {index}, which already stopped")
        return block

    def _block_delta(self, event: Any) -> list[NeutralEvent]:
        block = self._open_block(event.index, "content_block_delta")
        delta = event.delta
        block_type = block.content.get("type")
        if delta.type == "input_json_delta":
            if block_type not in ("tool_use", "server_tool_use"):
                raise StreamError(f"input_json_delta for block {event.index}, a {block_type}")
            block.partial_json.append(delta.partial_json)
            if self.watch and delta.partial_json:
                return self._watched(block, delta.partial_json)
            return []
        if delta.type in _DELTA_FIELDS:
            expected, name = _DELTA_FIELDS[delta.type]
            if block_type != expected:
                raise StreamError(f"{delta.type} for block {event.index}, a {block_type}")
            piece = getattr(delta, name)
            block.content[name] = block.content.get(name, "") + piece
            return [TextDelta(piece)] if expected == "text" and piece else []
        if delta.type == "signature_delta":
            if block_type != "thinking":
                raise StreamError(f"signature_delta for block {event.index}, a {block_type}")
            block.content["signature"] = delta.signature
            return []
        if delta.type == "citations_delta":
            if block_type != "text":
                raise StreamError(f"citations_delta for block {event.index}, a {block_type}")
            citation = delta.citation.to_dict(mode="json", exclude_none=True)
            block.content.setdefault("citations", []).append(citation)
            return []
        raise StreamError(f"unknown delta type {delta.type!r} for block {event.index}")

    def _watched(self, block: _Block, text: str) -> list[NeutralEvent]:
        call_id, wire = block.content.get("id"), block.content.get("name")
        if block.content.get("type") != "tool_use" or not isinstance(wire, str):
            return []
        name = self._names.from_wire(wire)
        if name not in self.watch or not isinstance(call_id, str):
            return []
        return [CallDelta(call_id, name, text)]

    def _block_stop(self, event: Any) -> list[NeutralEvent]:
        block = self._open_block(event.index, "content_block_stop")
        block.closed = True
        if block.content.get("type") not in ("tool_use", "server_tool_use"):
            return []
        text = "".join(block.partial_json)
        arguments: dict[str, Any] | str
        if not text.strip():
            arguments = {}  # a tool without parameters: no fragment but ""
        else:
            try:
                parsed = json.loads(text)
            except (ValueError, RecursionError):  # the executor words it for the model
                parsed = None
            # Bad JSON goes to the executor as text: the model gets an invalid_arguments result.
            arguments = parsed if isinstance(parsed, dict) else text
        block.content["input"] = arguments if isinstance(arguments, dict) else {}
        if block.content["type"] != "tool_use":
            return []  # run by the server, not by volley
        call_id, name = block.content.get("id"), block.content.get("name")
        if not isinstance(call_id, str) or not isinstance(name, str):
            raise StreamError(f"tool_use block {event.index} has no id or name")
        call = ToolCall(call_id, self._names.from_wire(name), arguments)
        complete = self._turn.call(call)
        block.call_index = complete.index
        return [complete]

    def _stop(self) -> StopReason:
        if self._stop_reason is None:
            return "other"
        return STOP_REASONS.get(self._stop_reason, "other")

    def _usage(self) -> Usage:
        return Usage(self._input_tokens, self._output_tokens)

    def incomplete(self) -> list[IncompleteCall]:
        """The `tool_use` blocks that started but never stopped, in block order."""
        return [
            IncompleteCall(
                id=str(block.content.get("id", "")),
                name=self._names.from_wire(str(block.content.get("name", ""))),
                arguments="".join(block.partial_json),
                wire_index=index,
            )
            for index, block in sorted(self._blocks.items())
            if block.content.get("type") == "tool_use" and not block.closed
        ]

    def finish(self) -> ModelTurn:
        """The whole turn, as the non-streaming adapter would have returned it.

        Works on a cut stream too: the turn then holds what completed, `stop` is `"other"` unless
        the stream said why it stopped, and unfinished blocks are left out of the echo (an echoed
        `tool_use` without its result would be refused by the API).
        """
        texts: list[str] = []
        echoed: list[dict[str, Any]] = []
        calls: list[ToolCall] = []
        for _, block in sorted(self._blocks.items()):
            kind = block.content.get("type")
            if not block.closed and kind in ("tool_use", "server_tool_use"):
                continue
            echoed.append(block.content)
            if kind == "text":
                texts.append(str(block.content.get("text", "")))
            elif block.call_index is not None:
                calls.append(self._turn.calls[block.call_index])
        self._turn.usage = self._usage()
        return self._turn.turn(
            self._stop(),
            text="".join(texts),
            calls=calls,
            provider_data={"anthropic_content": echoed},
        )
