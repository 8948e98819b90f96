"""The OpenAI Responses wire format (``POST /v1/responses``), non-streaming and SSE.

Validation follows the real API where it matters to tool calling: ``model`` is required; ``input``
is a string or a list of items (messages, ``function_call``, ``function_call_output``,
``reasoning``); every ``function_call`` needs a ``function_call_output`` with its ``call_id`` later
in the input, and an output needs a call before it; call ids and outputs are unique. Tools are
flat ``{"type": "function", "name", "parameters"}`` with a name matching ``^[a-zA-Z0-9_-]{1,64}$``
(unique). Stricter than the real API: ``parameters`` is required and other tool types are refused,
so that adapters always send a schema. ``previous_response_id`` is refused as unknown: the
simulator stores nothing, so each request must carry the whole conversation.
``parallel_tool_calls: false`` limits a response to one call.

``max_output_tokens`` (at least 16, as the real API requires) caps the output (see `truncate`): a
reply cut by it is ``status: "incomplete"`` with ``incomplete_details: {"reason":
"max_output_tokens"}``, and a stream of it ends with ``response.incomplete``. A function call
whose arguments were cut is an item of ``status: "incomplete"`` with the arguments written so far;
streamed, it gets ``output_item.added`` and its argument deltas but no ``arguments.done`` nor
``output_item.done``. A message cut short is ``incomplete`` too, and still gets its done events.

The model's items in the input are grouped into turns: a run of ``function_call``, ``reasoning``
and assistant message items is one assistant message of the history. Like Chat, the format has no
error flag; a ``function_call_output`` counts as an error by the same rule as a Chat ``tool``
message (its text starts with ``error`` or is a JSON object with an ``"error"`` key).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from ._openai import (
    check_function,
    error_body,
    invalid_type,
    looks_like_error,
    missing,
    token_cap,
)
from ._script import Exchange, ReceivedResult, Reply
from ._tokens import count_json_tokens, count_tokens, split_tokens
from ._wire import Rendering, SimRequest, SseEvent, WireError, sse

ROLES = ("user", "assistant", "system", "developer")


class OpenAIResponses:
    """Serve the Responses API so that the ``openai`` SDK talks to the simulator unchanged."""

    name = "openai_responses"
    path = "/v1/responses"
    call_id_prefix = "call_"
    message_id_prefix = "resp_"
    partial_calls = True

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
        _check_tools(tools)
        parallel = body.get("parallel_tool_calls", True)
        if not isinstance(parallel, bool):
            invalid_type("parallel_tool_calls", "boolean")
        instructions = body.get("instructions")
        if instructions is not None and not isinstance(instructions, str):
            invalid_type("instructions", "string")
        cap = token_cap(body, "max_output_tokens", minimum=16)
        items = body.get("input")
        history = _check_input(items)
        return SimRequest(
            model=model,
            stream=stream,
            history=history,
            max_calls=None if parallel else 1,
            input_tokens=count_json_tokens(
                {"system": instructions, "messages": items, "tools": tools}
            ),
            body=body,
            max_output_tokens=cap,
        )

    def error_body(self, error: WireError) -> dict[str, Any]:
        """OpenAI's error shape."""
        return error_body(error)

    def response(self, request: SimRequest, reply: Reply, info: Rendering) -> dict[str, Any]:
        """A ``response`` object: a message item for the text, then one item per call."""
        status = "incomplete" if reply.truncated else "completed"
        return _response(request, info, _items(reply, info), status)

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
        for index, item in enumerate(_items(reply, info)):
            where = {"item_id": item["id"], "output_index": index}
            if item["type"] == "message":
                yield event(
                    "response.output_item.added",
                    output_index=index,
                    item={**item, "status": "in_progress", "content": []},
                )
                part = {"type": "output_text", "annotations": [], "text": ""}
                yield event("response.content_part.added", **where, content_index=0, part=part)
                for text, tokens in split_tokens(reply.text):
                    yield event(
                        "response.output_text.delta",
                        tokens,
                        **where,
                        content_index=0,
                        delta=text,
                        logprobs=[],
                    )
                yield event(
                    "response.output_text.done",
                    **where,
                    content_index=0,
                    text=reply.text,
                    logprobs=[],
                )
                done = item["content"][0]
                yield event("response.content_part.done", **where, content_index=0, part=done)
            else:
                yield event(
                    "response.output_item.added",
                    count_tokens(item["name"]),
                    output_index=index,
                    item={**item, "status": "in_progress", "arguments": ""},
                )
                for fragment, tokens in split_tokens(item["arguments"]):
                    yield event(
                        "response.function_call_arguments.delta", tokens, **where, delta=fragment
                    )
                if item["status"] == "incomplete":
                    break  # the cap stopped this call: no done events, nothing after it
                yield event(
                    "response.function_call_arguments.done", **where, arguments=item["arguments"]
                )
            yield event("response.output_item.done", output_index=index, item=item)
        final = self.response(request, reply, info)
        yield event(f"response.{final['status']}", response=final)


def _items(reply: Reply, info: Rendering) -> list[dict[str, Any]]:
    """The output items; the one the output cap stopped (if any) is ``incomplete``."""
    items: list[dict[str, Any]] = []
    if reply.text:
        text_cut = reply.truncated and not reply.calls and reply.cut_call is None
        items.append(
            {
                "id": "msg_" + info.message_id.removeprefix("resp_"),
                "type": "message",
                "status": "incomplete" if text_cut else "completed",
                "role": "assistant",
                "content": [{"type": "output_text", "annotations": [], "text": reply.text}],
            }
        )
    items.extend(_call_item(c.id, c.name, c.arguments_json, "completed") for c in reply.calls)
    cut = reply.cut_call
    if cut is not None:
        items.append(_call_item(cut.id, cut.name, cut.arguments_json, "incomplete"))
    return items


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


def _check_tools(tools: object) -> None:
    if not isinstance(tools, list):
        invalid_type("tools", "array")
    names: set[str] = set()
    for k, tool in enumerate(tools):
        where = f"tools[{k}]"
        if not isinstance(tool, dict) or tool.get("type") != "function":
            raise WireError(
                f"Invalid value for '{where}.type': expected 'function'.",
                param=f"{where}.type",
                code="invalid_value",
            )
        name = check_function(tool, where)
        if name in names:
            raise WireError(
                f"Duplicate tool name: '{name}'.", param=f"{where}.name", code="invalid_value"
            )
        names.add(name)


def _check_input(items: object) -> tuple[Exchange, ...]:
    if items is None:
        missing("input")
    if isinstance(items, str):
        return ()
    if not isinstance(items, list):
        invalid_type("input", "string or array")
    turns: list[list[str]] = []  # the call ids of each assistant turn
    results: list[list[ReceivedResult]] = []
    calls: dict[str, tuple[str, int]] = {}  # call_id -> (tool name, turn)
    answered: set[str] = set()
    in_turn = False
    for i, item in enumerate(items):
        kind = _kind(item, i)
        if kind in ("function_call", "reasoning", "assistant"):
            if not in_turn:
                turns.append([])
                results.append([])
            in_turn = True
            if kind == "function_call":
                call_id, name = _function_call(item, i)
                if call_id in calls:
                    raise WireError(
                        f"Duplicate function call with call_id '{call_id}'.",
                        param=f"input[{i}].call_id",
                        code="invalid_value",
                    )
                calls[call_id] = (name, len(turns) - 1)
                turns[-1].append(call_id)
            continue
        in_turn = False
        if kind == "function_call_output":
            call_id, output = _function_output(item, i)
            if call_id not in calls:
                raise WireError(
                    f"No tool call found for function call output with call_id {call_id}.",
                    param="input",
                )
            if call_id in answered:
                raise WireError(
                    f"Duplicate function call output for call_id {call_id}.", param="input"
                )
            answered.add(call_id)
            name, turn = calls[call_id]
            results[turn].append(ReceivedResult(call_id, output, looks_like_error(output), name))
    for call_id in calls:
        if call_id not in answered:
            raise WireError(f"No tool output found for function call {call_id}.", param="input")
    return tuple(
        Exchange(calls=len(ids), results=tuple(got))
        for ids, got in zip(turns, results, strict=True)
    )


def _kind(item: object, i: int) -> str:
    """``assistant`` for a model message, ``message`` for any other, else the item's type."""
    if not isinstance(item, dict):
        invalid_type(f"input[{i}]", "object")
    kind = item.get("type", "message")
    if kind in ("function_call", "function_call_output", "reasoning"):
        return str(kind)
    if kind != "message":
        raise WireError(
            f"Invalid value: '{kind}'. Supported values are: 'message', 'function_call', "
            "'function_call_output' and 'reasoning'.",
            param=f"input[{i}].type",
            code="invalid_value",
        )
    role = item.get("role")
    if role not in ROLES:
        raise WireError(
            f"Invalid value: {role!r}. Supported values are: 'assistant', 'system', "
            "'developer', and 'user'.",
            param=f"input[{i}].role",
            code="invalid_value",
        )
    if "content" not in item:
        missing(f"input[{i}].content")
    return "assistant" if role == "assistant" else "message"


def _function_call(item: dict[str, Any], i: int) -> tuple[str, str]:
    for key in ("call_id", "name", "arguments"):
        if not isinstance(item.get(key), str):
            missing(f"input[{i}].{key}")
    return item["call_id"], item["name"]


def _function_output(item: dict[str, Any], i: int) -> tuple[str, str]:
    call_id = item.get("call_id")
    if not isinstance(call_id, str):
        missing(f"input[{i}].call_id")
    output = item.get("output")
    if isinstance(output, list):
        output = "".join(p.get("text", "") for p in output if isinstance(p, dict))
    if not isinstance(output, str):
        missing(f"input[{i}].output")
    return call_id, output
