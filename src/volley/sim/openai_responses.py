"""The OpenAI Responses wire format (``POST /v1/responses``), non-streaming and SSE.

Validation follows the real API where it matters to tool calling (the items are checked in
`check_input`): ``model`` is required; ``input`` is a string or a list of items (messages,
``function_call``, ``function_call_output``, ``reasoning``); calls and their outputs must pair up,
and echoed output items must keep what the API requires of them (a reasoning item its following
item). Tools are flat ``{"type": "function", "name", "parameters"}`` with a name matching
``^[a-zA-Z0-9_-]{1,64}$`` (unique). Stricter than the real API: ``parameters`` is required and
other tool types are refused, so that adapters always send a schema. ``previous_response_id`` is
refused as unknown: the simulator stores nothing, so each request must carry the whole
conversation. ``parallel_tool_calls: false`` limits a response to one call.

Text goes out as an assistant ``message`` item labelled with a ``phase``, as models from
gpt-5.3-codex and gpt-5.4 on label theirs: ``commentary`` for text written before tool calls (a
preamble), ``final_answer`` for an answer without calls; the API asks for the label back on every
assistant message. ``phases=False`` leaves it out, as older models do. ``reasoning=True`` puts a
``reasoning`` item before each response's output, as reasoning models do: ``{"type":
"reasoning", "id": "rs_...", "summary": []}``, with a summary when the request asks for one
(``reasoning: {"summary": ...}``) and ``encrypted_content`` when its ``include`` names
``reasoning.encrypted_content``; streamed with the summary's part and text events. Reasoning
costs no tokens here (``reasoning_tokens`` stays 0), so usage and pacing are the same with it
on or off. With it on, each message the simulator wrote must come back right after its reasoning
item (see `check_input`).

``max_output_tokens`` (at least 16, as the real API requires) caps the output (see `truncate`): a
reply cut by it is ``status: "incomplete"`` with ``incomplete_details: {"reason":
"max_output_tokens"}``, and a stream of it ends with ``response.incomplete``. A function call
whose arguments were cut is an item of ``status: "incomplete"`` with the arguments written so far;
streamed, it gets ``output_item.added`` and its argument deltas but no ``arguments.done`` nor
``output_item.done``. A message cut short is ``incomplete`` too, and still gets its done events.

Like Chat, the format has no error flag; a ``function_call_output`` counts as an error by the same
rule as a Chat ``tool`` message (its text starts with ``error`` or is a JSON object with an
``"error"`` key). Its ``output`` may be a list of text, image and file items (see
`output_parts`): images are decoded and checked, and kept with the result.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from ._media import Tally
from ._openai import error_body, invalid_type, missing, token_cap
from ._responses_input import check_input, check_tools
from ._script import Reply
from ._tokens import count_json_tokens, count_tokens, split_tokens
from ._wire import Rendering, SimRequest, SseEvent, WireError, sse

Event = Callable[..., SseEvent]
SUMMARIES = ("auto", "concise", "detailed")


class OpenAIResponses:
    """Serve the Responses API so that the ``openai`` SDK talks to the simulator unchanged.

    Args:
        reasoning: Begin each response with a reasoning item, as reasoning models do, and
            require it back with the item that follows it.
        phases: Label each message item ``commentary`` or ``final_answer``.
    """

    name = "openai_responses"
    path = "/v1/responses"
    call_id_prefix = "call_"
    message_id_prefix = "resp_"
    partial_calls = True

    def __init__(self, *, reasoning: bool = False, phases: bool = True) -> None:
        self.reasoning = reasoning
        self.phases = phases

    def parse(self, body: object, route: Mapping[str, str] | None = None) -> SimRequest:
        """Validate a Responses request (see the module docstring).

        Raises:
            WireError: the request is invalid.
        """
        if not isinstance(body, dict):
            raise WireError("Request body must be a JSON object")
        model = body.get("model")
        if model is None:
            missing("model")
        if not isinstance(model, str) or not model:
            invalid_type("model", "string")
        stream = body.get("stream", False)
        if not isinstance(stream, bool):
            invalid_type("stream", "boolean")
        if body.get("previous_response_id") is not None:
            raise WireError(
                f"Previous response with id '{body['previous_response_id']}' not found.",
                param="previous_response_id",
                code="previous_response_not_found",
            )
        tools = body.get("tools", [])
        check_tools(tools)
        parallel = body.get("parallel_tool_calls", True)
        if not isinstance(parallel, bool):
            invalid_type("parallel_tool_calls", "boolean")
        instructions = body.get("instructions")
        if instructions is not None and not isinstance(instructions, str):
            invalid_type("instructions", "string")
        if not isinstance(body.get("reasoning") or {}, dict):
            invalid_type("reasoning", "object")
        if not isinstance(body.get("include") or [], list):
            invalid_type("include", "array")
        cap = token_cap(body, "max_output_tokens", minimum=16)
        items = body.get("input")
        tally = Tally()
        history = check_input(items, paired=self.reasoning, tally=tally)
        return SimRequest(
            model=model,
            stream=stream,
            history=history,
            max_calls=None if parallel else 1,
            input_tokens=tally.adjust(
                count_json_tokens({"system": instructions, "messages": items, "tools": tools})
            ),
            body=body,
            max_output_tokens=cap,
        )

    def error_body(self, error: WireError) -> dict[str, Any]:
        """OpenAI's error shape."""
        return error_body(error)

    def response(self, request: SimRequest, reply: Reply, info: Rendering) -> dict[str, Any]:
        """A ``response`` object: reasoning, a message item for the text, one item per call."""
        status = "incomplete" if reply.truncated else "completed"
        return _response(request, info, self._items(request, reply, info), status)

    def events(self, request: SimRequest, reply: Reply, info: Rendering) -> Iterator[SseEvent]:
        """Created, in progress, each item's added, deltas and done events, then completed.

        A reply cut by the output cap ends with ``response.incomplete`` instead, right after the
        deltas of a cut call (which gets no done events).
        """
        sequence = iter(range(1 << 31))

        def event(kind: str, tokens: int = 0, **fields: Any) -> SseEvent:
            return sse({"type": kind, "sequence_number": next(sequence), **fields}, kind, tokens)

        start = _response(request, info, [], "in_progress")
        yield event("response.created", response=start)
        yield event("response.in_progress", response=start)
        for index, item in enumerate(self._items(request, reply, info)):
            if item["type"] == "reasoning":
                yield from _reasoning_events(event, item, index)
            elif item["type"] == "message":
                yield from _message_events(event, item, index)
            else:
                yield from _call_events(event, item, index)
                if item["status"] == "incomplete":
                    break  # the cap stopped this call: no done events, nothing after it
            yield event("response.output_item.done", output_index=index, item=item)
        final = self.response(request, reply, info)
        yield event(f"response.{final['status']}", response=final)

    def _items(self, request: SimRequest, reply: Reply, info: Rendering) -> list[dict[str, Any]]:
        """The output items; the one the output cap stopped (if any) is ``incomplete``."""
        suffix = info.message_id.removeprefix("resp_")
        items: list[dict[str, Any]] = []
        if self.reasoning:
            items.append(_reasoning_item(request, reply, suffix))
        if reply.text:
            text_cut = reply.truncated and not reply.calls and reply.cut_call is None
            message = {
                "id": f"msg_{suffix}",
                "type": "message",
                "status": "incomplete" if text_cut else "completed",
                "role": "assistant",
                "content": [{"type": "output_text", "annotations": [], "text": reply.text}],
            }
            if self.phases:
                calling = reply.calls or reply.cut_call or reply.makes_calls
                message["phase"] = "commentary" if calling else "final_answer"
            items.append(message)
        items.extend(_call_item(c.id, c.name, c.arguments_json, "completed") for c in reply.calls)
        cut = reply.cut_call
        if cut is not None:
            items.append(_call_item(cut.id, cut.name, cut.arguments_json, "incomplete"))
        return items


def _reasoning_item(request: SimRequest, reply: Reply, suffix: str) -> dict[str, Any]:
    """What a reasoning model writes first; its summary and blob only when the request asks."""
    item: dict[str, Any] = {"id": f"rs_{suffix}", "type": "reasoning", "summary": []}
    asked = request.body.get("reasoning") or {}
    if asked.get("summary") in SUMMARIES:
        if reply.calls or reply.cut_call or reply.makes_calls:
            text = "**Choosing tools**\n\nThe tools can answer this; I will call them."
        else:
            text = "**Answering**\n\nI have what I need to answer."
        item["summary"] = [{"type": "summary_text", "text": text}]
    if "reasoning.encrypted_content" in (request.body.get("include") or []):
        digest = hashlib.sha256(f"sim:reasoning:{suffix}".encode()).digest()
        item["encrypted_content"] = base64.b64encode(digest).decode()
    return item


def _reasoning_events(event: Event, item: dict[str, Any], index: int) -> Iterator[SseEvent]:
    """Added (no summary yet, no blob: it may be incomplete there), then each summary part."""
    yield event(
        "response.output_item.added",
        output_index=index,
        item={"id": item["id"], "type": "reasoning", "summary": []},
    )
    for k, part in enumerate(item["summary"]):
        where = {"item_id": item["id"], "output_index": index, "summary_index": k}
        empty = {"type": "summary_text", "text": ""}
        yield event("response.reasoning_summary_part.added", **where, part=empty)
        for text, _ in split_tokens(part["text"]):
            yield event("response.reasoning_summary_text.delta", **where, delta=text)
        yield event("response.reasoning_summary_text.done", **where, text=part["text"])
        yield event("response.reasoning_summary_part.done", **where, part=part)


def _message_events(event: Event, item: dict[str, Any], index: int) -> Iterator[SseEvent]:
    """Added (empty, in progress), its one text part's added, deltas and done events."""
    where = {"item_id": item["id"], "output_index": index}
    yield event(
        "response.output_item.added",
        output_index=index,
        item={**item, "status": "in_progress", "content": []},
    )
    part = {"type": "output_text", "annotations": [], "text": ""}
    yield event("response.content_part.added", **where, content_index=0, part=part)
    text = item["content"][0]["text"]
    for piece, tokens in split_tokens(text):
        yield event(
            "response.output_text.delta",
            tokens,
            **where,
            content_index=0,
            delta=piece,
            logprobs=[],
        )
    yield event("response.output_text.done", **where, content_index=0, text=text, logprobs=[])
    done = item["content"][0]
    yield event("response.content_part.done", **where, content_index=0, part=done)


def _call_events(event: Event, item: dict[str, Any], index: int) -> Iterator[SseEvent]:
    """Added (no arguments yet), the argument deltas, and their done event if it is whole."""
    where = {"item_id": item["id"], "output_index": index}
    yield event(
        "response.output_item.added",
        count_tokens(item["name"]),
        output_index=index,
        item={**item, "status": "in_progress", "arguments": ""},
    )
    for fragment, tokens in split_tokens(item["arguments"]):
        yield event("response.function_call_arguments.delta", tokens, **where, delta=fragment)
    if item["status"] != "incomplete":
        yield event("response.function_call_arguments.done", **where, arguments=item["arguments"])


def _call_item(call_id: str, name: str, arguments: str, status: str) -> dict[str, Any]:
    return {
        "id": "fc_" + call_id.removeprefix("call_"),
        "type": "function_call",
        "status": status,
        "arguments": arguments,
        "call_id": call_id,
        "name": name,
    }


def _response(
    request: SimRequest, info: Rendering, output: list[dict[str, Any]], status: str
) -> dict[str, Any]:
    """A ``response`` object of ``status`` (``in_progress`` ones carry no usage yet)."""
    body = request.body
    usage = {
        "input_tokens": info.input_tokens,
        "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
        "output_tokens": info.output_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": info.input_tokens + info.output_tokens,
    }
    return {
        "id": info.message_id,
        "object": "response",
        "created_at": info.created,
        "status": status,
        "error": None,
        "incomplete_details": ({"reason": "max_output_tokens"} if status == "incomplete" else None),
        "instructions": body.get("instructions"),
        "max_output_tokens": body.get("max_output_tokens"),
        "model": request.model,
        "output": output,
        "parallel_tool_calls": body.get("parallel_tool_calls", True),
        "previous_response_id": None,
        "temperature": 1.0,
        "tool_choice": body.get("tool_choice", "auto"),
        "tools": body.get("tools", []),
        "top_p": 1.0,
        "truncation": "disabled",
        "usage": None if status == "in_progress" else usage,
        "metadata": {},
    }
