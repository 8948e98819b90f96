"""Gemini `streamGenerateContent` streams, assembled call by call.

Each chunk is a whole `GenerateContentResponse` carrying the next parts; a `functionCall` part
always arrives whole, so every call is complete the moment its chunk arrives (calls of one turn
may be spread over several chunks). The model's full `Content`, `thoughtSignature` included, is
kept to be echoed back unchanged.
"""

from __future__ import annotations

import uuid
from typing import Any

from ..._call import ToolCall
from ..._messages import ModelTurn, StopReason, Usage
from .._base import missing_extra
from .._names import ToolNames
from ._events import (
    IncompleteCall,
    NeutralEvent,
    StreamError,
    TextDelta,
    validated,
)
from ._stream import TurnParts

__all__ = ["GeminiAssembler", "LOCAL_ID_PREFIX", "STOP_REASONS"]

STOP_REASONS: dict[str, StopReason] = {
    "STOP": "end",
    "MAX_TOKENS": "max_tokens",
    "SAFETY": "refused",
    "RECITATION": "refused",
    "PROHIBITED_CONTENT": "refused",
    "BLOCKLIST": "refused",
    "SPII": "refused",
}
"""The API's `finishReason` -> the neutral stop (the adapter reads whole responses with it)."""

LOCAL_ID_PREFIX = "volley-"
"""Prefix of the ids volley gives calls that came without one (Gemini pairs those by order)."""


class GeminiAssembler:
    """Turns the chunks of one Gemini stream into neutral events and a `ModelTurn`.

    Feed it `google.genai.types.GenerateContentResponse` chunks (what
    `generate_content_stream` yields) or plain dicts of the same JSON (camelCase, as on the wire).
    Calls without an id get a local `volley-` id, as the non-streaming adapter gives them.

    Args:
        names: The request's tool names, to map wire names back to the tools' own names.
    """

    def __init__(self, names: ToolNames) -> None:
        try:
            from google.genai import types
        except ImportError:
            raise missing_extra("google-genai", "gemini") from None
        self._types: Any = types
        self._names = names
        self.watch: frozenset[str] = frozenset()
        """Unused: Gemini sends each call whole, so there is no argument text to report."""
        self._parts: list[Any] = []
        self._turn = TurnParts()
        self._finish: str | None = None
        self._blocked = False

    def feed(self, event: object) -> list[NeutralEvent]:
        """Absorb one chunk; returns what it completed, in order.

        Raises:
            StreamError: the chunk is malformed, comes after the finishing chunk, or holds a
                call without a name.
        """
        chunk = validated(self._types.GenerateContentResponse, event, "Gemini stream")
        if self._finish is not None or self._blocked:
            raise StreamError("a chunk after the chunk that finished the stream")
        if chunk.model_version:
            self._turn.model = chunk.model_version
        usage = chunk.usage_metadata
        if usage is not None:
            self._turn.usage = Usage(
                usage.prompt_token_count or 0, usage.candidates_token_count or 0
            )
        candidates = chunk.candidates or []
        if not candidates:
            feedback = chunk.prompt_feedback
            if feedback is not None and feedback.block_reason is not None:
                self._blocked = True
                return [self._turn.end("refused")]
            return []
        if len(candidates) > 1:
            raise StreamError("only one candidate is supported (candidateCount=1)")
        candidate = candidates[0]
        out: list[NeutralEvent] = []
        content = candidate.content
        for part in (content.parts if content is not None else None) or ():
            out.extend(self._part(part))
        if candidate.finish_reason is not None:
            finish = candidate.finish_reason
            self._finish = str(getattr(finish, "value", finish))
            out.append(self._turn.end(self._stop()))
        return out

    def _part(self, part: Any) -> list[NeutralEvent]:
        call = part.function_call
        if call is not None:
            if not call.name:
                raise StreamError(f"a functionCall part without a name: {part!r}")
            call_id = call.id or f"{LOCAL_ID_PREFIX}{uuid.uuid4().hex[:12]}"
            self._parts.append(part)
            done = ToolCall(call_id, self._names.from_wire(call.name), dict(call.args or {}))
            return [self._turn.call(done)]
        previous = self._parts[-1] if self._parts else None
        if part.text is not None and previous is not None and _plain_text(previous, part):
            # Text streams in pieces; the whole response would hold it as one part.
            self._parts[-1] = previous.model_copy(update={"text": previous.text + part.text})
        else:
            self._parts.append(part)
        if part.text and not part.thought:
            return [TextDelta(part.text)]
        return []

    def _stop(self) -> StopReason:
        if self._blocked:
            return "refused"
        stop = STOP_REASONS.get(self._finish or "", "other")
        return "tool_calls" if self._turn.calls and stop == "end" else stop

    def incomplete(self) -> list[IncompleteCall]:
        """Always empty: a Gemini call arrives whole or not at all."""
        return []

    def finish(self) -> ModelTurn:
        """The whole turn, as the non-streaming adapter would have returned it.

        The calls keep the ids `CallComplete` gave them. `gemini_content` holds the parts as they
        streamed, adjacent text pieces joined, signatures untouched.
        """
        texts = [p.text for p in self._parts if p.text and not p.thought]
        content = self._types.Content(role="model", parts=list(self._parts))
        return self._turn.turn(
            self._stop(),
            text="".join(texts),
            provider_data={"gemini_content": content} if self._parts else {},
        )


def _plain_text(previous: Any, part: Any) -> bool:
    """Whether `part` continues `previous`: both text of the same kind, nothing else set."""
    keys = {"text", "thought"}
    return (
        previous.text is not None
        and bool(previous.thought) == bool(part.thought)
        and set(previous.model_fields_set) <= keys
        and set(part.model_fields_set) <= keys
        and previous.thought_signature is None
        and part.thought_signature is None
    )
