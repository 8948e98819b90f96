"""OpenAI Chat Completions streams (and compatible servers), assembled call by call.

The format has no per-call "done" event: a call's first chunk carries its id and name, later
chunks only argument fragments, and the call is complete when a chunk for a different index
appears or when `finish_reason` arrives. Ollama sends every call at index 0, so a new non-null id
at the current index also starts a new call. Arguments stay the JSON text the model wrote: the
executor parses them and reports bad JSON to the model.
"""

from __future__ import annotations

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
    validated,
)
from ._stream import TurnParts

__all__ = ["OpenAIChatAssembler", "STOP_REASONS"]

_CUT = frozenset({"length", "content_filter"})
"""Finish reasons that cut the message: the call being written then is not complete."""

STOP_REASONS: dict[str, StopReason] = {
    "stop": "end",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    "length": "max_tokens",
    "content_filter": "refused",
}
"""The API's `finish_reason` -> the neutral stop (the adapter reads whole completions with it)."""


@dataclass
class _Call:
    wire_index: int
    id: str
    name: str = ""
    arguments: list[str] = field(default_factory=list)


class OpenAIChatAssembler:
    """Turns the chunks of one Chat Completions stream into neutral events and a `ModelTurn`.

    Feed it `openai.types.chat.ChatCompletionChunk` objects (what `create(stream=True)` yields)
    or plain dicts of the same JSON; the `[DONE]` sentinel is not an event (the SDK drops it).
    Only choice 0 is assembled: tool calling with `n > 1` is not supported.

    Args:
        names: The request's tool names, to map wire names back to the tools' own names.
    """

    def __init__(self, names: ToolNames) -> None:
        try:
            from openai.types.chat import ChatCompletionChunk
        except ImportError:
            raise missing_extra("openai", "openai") from None
        self._chunk_type: Any = ChatCompletionChunk
        self._names = names
        self.watch: frozenset[str] = frozenset()
        """Tools whose argument text is reported piece by piece (`CallDelta`)."""
        self._parts = TurnParts()
        self._done_indexes: set[int] = set()
        self._open: _Call | None = None
        self._finish: str | None = None

    def feed(self, event: object) -> list[NeutralEvent]:
        """Absorb one chunk; returns what it completed, in order.

        Raises:
            StreamError: the chunk is malformed or out of order (a call resumed after it was
                complete, a call without an id, content after `finish_reason`).
        """
        chunk = validated(self._chunk_type, event, "Chat Completions chunk")
        self._parts.model = chunk.model or self._parts.model
        if chunk.usage is not None:
            self._parts.usage = Usage(chunk.usage.prompt_tokens, chunk.usage.completion_tokens)
        out: list[NeutralEvent] = []
        for choice in chunk.choices:
            if choice.index != 0:
                raise StreamError(f"choice {choice.index}: only one choice (n=1) is supported")
            if self._finish is not None:
                raise StreamError(f"a chunk for choice 0 after finish_reason {self._finish!r}")
            delta = choice.delta
            if delta.content:
                out.extend(self._parts.text(delta.content))
            for part in delta.tool_calls or ():
                out.extend(self._tool_call_part(part))
            if choice.finish_reason is not None:
                self._finish = str(choice.finish_reason)
                if self._finish not in _CUT:
                    out.extend(self._complete())
                out.append(self._parts.end(self._stop()))
        return out

    def _tool_call_part(self, part: Any) -> list[NeutralEvent]:
        index = part.index
        call_id = part.id or None
        function = part.function
        out: list[NeutralEvent] = []
        current = self._open
        starts = current is None or index != current.wire_index
        if current is not None and not starts and call_id is not None and call_id != current.id:
            starts = True  # Ollama: every call at index 0, each with its own id
        if starts:
            if current is not None and index != current.wire_index and index in self._done_indexes:
                raise StreamError(f"tool call index {index} continued after it was complete")
            if call_id is None:
                raise StreamError(f"tool call at index {index} began without an id")
            out.extend(self._complete())
            current = self._open = _Call(index, call_id)
        assert current is not None
        if function is not None:
            if function.name:
                if current.name and function.name != current.name:
                    raise StreamError(
                        f"tool call {current.id} renamed from {current.name!r} to {function.name!r}"
                    )
                current.name = function.name
            if function.arguments:
                current.arguments.append(function.arguments)
                if self.watch and current.name:
                    name = self._names.from_wire(current.name)
                    if name in self.watch:
                        out.append(CallDelta(current.id, name, function.arguments))
        return out

    def _complete(self) -> list[NeutralEvent]:
        current, self._open = self._open, None
        if current is None:
            return []
        if not current.name:
            raise StreamError(f"tool call {current.id} ended without a name")
        self._done_indexes.add(current.wire_index)
        call = ToolCall(current.id, self._names.from_wire(current.name), "".join(current.arguments))
        return [self._parts.call(call)]

    def _stop(self) -> StopReason:
        if self._finish is None:
            return "other"
        return STOP_REASONS.get(self._finish, "other")

    def incomplete(self) -> list[IncompleteCall]:
        """The call being written when the stream ended, if it never completed."""
        current = self._open
        if current is None:
            return []
        return [
            IncompleteCall(
                id=current.id,
                name=self._names.from_wire(current.name),
                arguments="".join(current.arguments),
                wire_index=current.wire_index,
            )
        ]

    def finish(self) -> ModelTurn:
        """The whole turn, as the non-streaming adapter would have returned it.

        On a cut stream the turn holds the calls that completed, and `stop` is `"other"` unless a
        `finish_reason` arrived. Usage is known only if the request asked for it
        (`stream_options={"include_usage": True}`).
        """
        return self._parts.turn(self._stop())
