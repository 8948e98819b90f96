"""OpenAI Responses streams, assembled call by call.

Each output item is announced by `response.output_item.added`; a `function_call` item's arguments
then arrive as `response.function_call_arguments.delta` events and are final at
`response.function_call_arguments.done` (or, at the latest, at the item's
`response.output_item.done`): that is when the call may start. Reasoning items are kept whole, to
be echoed back with the turn.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

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
    TurnEnd,
    validated,
)
from ._stream import TurnParts

if TYPE_CHECKING:
    from openai.types.responses import Response

__all__ = ["OpenAIResponsesAssembler", "turn_from_response"]


@dataclass
class _Item:
    item: Any
    """The item as announced, replaced by the final item at `output_item.done`."""
    arguments: list[str] = field(default_factory=list)
    text: list[str] = field(default_factory=list)
    call_index: int | None = None
    done: bool = False


class OpenAIResponsesAssembler:
    """Turns the events of one Responses stream into neutral events and a `ModelTurn`.

    Feed it `openai.types.responses.ResponseStreamEvent` objects (what
    `responses.create(stream=True)` yields) or plain dicts of the same JSON.

    Args:
        names: The request's tool names, to map wire names back to the tools' own names.
    """

    def __init__(self, names: ToolNames) -> None:
        try:
            from openai.types.responses import Response, ResponseStreamEvent
        except ImportError:
            raise missing_extra("openai", "openai") from None
        self._event_type: Any = ResponseStreamEvent
        self._response_type: Any = Response
        self._names = names
        self.watch: frozenset[str] = frozenset()
        """Tools whose argument text is reported piece by piece (`CallDelta`)."""
        self._started = False
        self._response: Any = None
        """The latest whole response object the stream carried (created, then completed)."""
        self._ended = False
        self._items: dict[int, _Item] = {}
        self._by_id: dict[str, int] = {}
        self._turn = TurnParts()

    def feed(self, event: object) -> list[NeutralEvent]:
        """Absorb one stream event; returns what it completed, in order.

        Raises:
            StreamError: the event is malformed or out of order, or the stream reports an error
                or a failed response.
        """
        parsed = validated(self._event_type, event, "Responses stream")
        kind: str = parsed.type
        if kind == "error":
            raise StreamError(f"the stream reported an error: {parsed.message}")
        if kind in ("response.created", "response.in_progress"):
            if self._ended:
                raise StreamError(f"{kind} after the response ended")
            self._started = True
            self._response = parsed.response
            return []
        if not self._started:
            raise StreamError(f"{kind} before response.created")
        if self._ended:
            raise StreamError(f"{kind} after the response ended")
        if kind == "response.output_item.added":
            if parsed.output_index in self._items:
                raise StreamError(f"output item {parsed.output_index} was added twice")
            self._items[parsed.output_index] = _Item(parsed.item)
            item_id = getattr(parsed.item, "id", None)
            if isinstance(item_id, str):
                self._by_id[item_id] = parsed.output_index
            return []
        if kind == "response.output_text.delta":
            entry = self._item(parsed, kind)
            entry.text.append(parsed.delta)
            return [TextDelta(parsed.delta)] if parsed.delta else []
        if kind == "response.function_call_arguments.delta":
            entry = self._call_item(parsed, kind)
            entry.arguments.append(parsed.delta)
            if self.watch and parsed.delta:
                name = self._names.from_wire(entry.item.name)
                if name in self.watch:
                    return [CallDelta(entry.item.call_id, name, parsed.delta)]
            return []
        if kind == "response.function_call_arguments.done":
            entry = self._call_item(parsed, kind)
            return self._complete(entry, parsed.arguments)
        if kind == "response.output_item.done":
            return self._item_done(parsed)
        if kind in ("response.completed", "response.incomplete"):
            self._ended = True
            self._response = parsed.response
            turn = self.finish()
            return [TurnEnd(turn.stop, turn.usage, turn.model)]
        if kind == "response.failed":
            error = parsed.response.error
            raise StreamError(f"the response failed: {error.message if error else 'no reason'}")
        # Content parts, reasoning, refusals: they come again, whole, in output_item.done.
        # Server tools, audio...: nothing volley runs or shows.
        return []

    def _item_done(self, event: Any) -> list[NeutralEvent]:
        kind = "response.output_item.done"
        entry = self._items.get(event.output_index)
        if entry is None:
            raise StreamError(f"{kind} for output item {event.output_index}, never added")
        if entry.done:
            raise StreamError(f"{kind} twice for output item {event.output_index}")
        if event.item.type != entry.item.type:
            raise StreamError(f"{kind}: item {event.output_index} changed its type")
        entry.done = True
        if event.item.type == "function_call" and entry.call_index is None:
            entry.item = event.item
            return self._complete(entry, event.item.arguments)
        entry.item = event.item
        return []

    def _item(self, event: Any, kind: str) -> _Item:
        index = self._by_id.get(event.item_id, event.output_index)
        entry = self._items.get(index)
        if entry is None or getattr(entry.item, "id", None) != event.item_id:
            raise StreamError(f"{kind} for item {event.item_id!r}, which was never added")
        if entry.done:
            raise StreamError(f"{kind} for item {event.item_id!r}, which is already done")
        return entry

    def _call_item(self, event: Any, kind: str) -> _Item:
        entry = self._item(event, kind)
        if entry.item.type != "function_call":
            raise StreamError(f"{kind} for item {event.item_id!r}, a {entry.item.type}")
        if entry.call_index is not None:
            raise StreamError(f"{kind} for call {event.item_id!r}, which is already complete")
        return entry

    def _complete(self, entry: _Item, arguments: str) -> list[NeutralEvent]:
        item = entry.item
        entry.item = item.model_copy(update={"arguments": arguments, "status": "completed"})
        call = ToolCall(item.call_id, self._names.from_wire(item.name), arguments)
        complete = self._turn.call(call)
        entry.call_index = complete.index
        return [complete]

    def incomplete(self) -> list[IncompleteCall]:
        """The `function_call` items announced whose arguments never completed."""
        return [
            IncompleteCall(
                id=entry.item.call_id,
                name=self._names.from_wire(entry.item.name),
                arguments="".join(entry.arguments),
                wire_index=index,
            )
            for index, entry in sorted(self._items.items())
            if entry.item.type == "function_call" and entry.call_index is None
        ]

    def finish(self) -> ModelTurn:
        """The whole turn, as the non-streaming adapter would have returned it.

        Built from the items as they streamed (so the calls are exactly those `CallComplete`
        announced) plus the final response's usage and reason; a cut stream gives the completed
        items, partial text, and `stop="other"` unless the stream said why it stopped.

        What a cut stream leaves must be safe to send back: a message cut mid-way keeps its id
        and the text written so far, as `status: "incomplete"` (how the API itself returns a
        message its output cap cut, so it takes it back, and a reasoning item before it keeps
        its required following item); one cut before any text is dropped, as is any other item
        never done (a reasoning item's encrypted content is only whole at its done event) and
        a call whose arguments never completed. A reasoning item left with nothing after it is
        then dropped too (see `turn_from_response`).
        """
        output: list[Any] = []
        for _, entry in sorted(self._items.items()):
            item = entry.item
            if item.type == "function_call":
                if entry.call_index is not None:
                    output.append(item)
            elif entry.done:
                output.append(item)
            elif item.type == "message" and (text := "".join(entry.text)):
                output.append(self._partial_message(item, text))
        response = self._response
        usage = getattr(response, "usage", None)
        whole = self._response_type.model_construct(
            output=output,
            usage=usage,
            model=getattr(response, "model", "") or "",
            incomplete_details=getattr(response, "incomplete_details", None),
        )
        turn = turn_from_response(whole, self._names)
        if not self._ended and turn.stop != "max_tokens":
            turn = dataclasses.replace(turn, stop="other")
        if usage is None:
            turn = dataclasses.replace(turn, usage=Usage())
        return turn

    def _partial_message(self, item: Any, text: str) -> Any:
        from openai.types.responses import ResponseOutputText

        part = ResponseOutputText.model_construct(type="output_text", text=text, annotations=[])
        return item.model_copy(update={"content": [part], "status": "incomplete"})


def turn_from_response(response: Response, names: ToolNames) -> ModelTurn:
    """The neutral turn, and every output item as the API takes it back as input.

    Items are echoed as they came, not rebuilt: a message keeps its `id`, `status` and `phase`
    (after a reasoning item, the API refuses a message without its id: "Item 'rs_...' of type
    'reasoning' was provided without its required following item"; and it asks for `phase`
    back on every assistant message). A reasoning item goes back only with an item after it,
    so one the response ended on (its output cap fell while the model reasoned, or a stream was
    cut) is dropped.
    """
    texts: list[str] = []
    calls: list[ToolCall] = []
    echoed: list[dict[str, Any]] = []
    for item in response.output:
        if item.type == "function_call":
            calls.append(ToolCall(item.call_id, names.from_wire(item.name), item.arguments))
            # Built field by field: the SDK's objects carry fields the API refuses as input.
            echoed.append(
                {
                    "type": "function_call",
                    "id": item.id,
                    "call_id": item.call_id,
                    "name": item.name,
                    "arguments": item.arguments,
                }
            )
        elif item.type == "message":
            text = "".join(c.text for c in item.content if c.type == "output_text")
            texts.append(text)
            echoed.append(_message_item(item, text))
        else:
            echoed.append(item.to_dict(mode="json", exclude_none=True))
    while echoed and echoed[-1].get("type") == "reasoning":
        echoed.pop()
    incomplete = response.incomplete_details
    stop: StopReason
    if incomplete is not None and incomplete.reason == "max_output_tokens":
        stop = "max_tokens"
    elif incomplete is not None and incomplete.reason == "content_filter":
        stop = "refused"
    else:
        stop = "tool_calls" if calls else "end"
    usage = response.usage
    return ModelTurn(
        text="".join(texts),
        calls=tuple(calls),
        stop=stop,
        usage=Usage(usage.input_tokens, usage.output_tokens) if usage else Usage(),
        model=response.model,
        provider_data={"responses_items": echoed},
    )


def _message_item(item: Any, text: str) -> dict[str, Any]:
    """A message output item in the input shape the API documents for it.

    Its parts keep their type (`output_text` with its annotations, `refusal`); `logprobs` are
    left out: the model's statistics about its tokens, not part of the conversation.
    """
    phase = getattr(item, "phase", None)
    if not isinstance(getattr(item, "id", None), str):  # not from the API: nothing to keep
        bare: dict[str, Any] = {"role": "assistant", "content": text}
        return {**bare, "phase": phase} if phase else bare
    parts: list[dict[str, Any]] = []
    for part in item.content:
        if part.type == "output_text":
            annotations = [a.to_dict(mode="json", exclude_none=True) for a in part.annotations]
            parts.append({"type": "output_text", "text": part.text, "annotations": annotations})
        elif part.type == "refusal":
            parts.append({"type": "refusal", "refusal": part.refusal})
    echoed: dict[str, Any] = {
        "type": "message",
        "id": item.id,
        "role": "assistant",
        "status": item.status or "completed",
        "content": parts,
    }
    if phase:
        echoed["phase"] = phase
    return echoed
