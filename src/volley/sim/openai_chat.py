"""The OpenAI Chat Completions wire format (``POST /v1/chat/completions``), non-streaming and SSE.

Validation follows the real API where it matters to tool calling: ``model`` and a non-empty
``messages`` are required; roles are the API's six; an assistant message's ``tool_calls`` must each
be answered by exactly one ``tool`` message, and those must come right after it; a ``tool`` message
must answer a call of that assistant message. Tools are ``{"type": "function", "function": {...}}``
with a name matching ``^[a-zA-Z0-9_-]+$`` of at most 64 characters. Stricter than the real API:
``function.parameters`` is required, so that adapters always send a schema.
``parallel_tool_calls: false`` limits a response to one call.

``max_completion_tokens`` (or the legacy ``max_tokens``) caps the output (see `truncate`): a reply
cut by it has ``finish_reason: "length"``, and a call whose arguments were cut is sent with the
arguments written so far (streamed: its deltas, then the finish chunk), which do not parse as JSON.

A ``tool`` message's content is text: a string, or a list of ``text`` parts (an image, audio or
file part is refused, as the API refuses it). Chat has no error flag on tool results; for ``when``
conditions a result counts as an error when its content starts with ``error`` (any case) or is a
JSON object with an ``"error"`` key.

``ollama=True`` streams every tool call at index 0, each starting with a chunk that carries its id,
as Ollama does, so that stream parsers can be tested against it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, NoReturn

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

ROLES = ("system", "developer", "user", "assistant", "tool", "function")


class OpenAIChat:
    """Serve Chat Completions so that the ``openai`` SDK talks to the simulator unchanged."""

    name = "openai_chat"
    path = "/v1/chat/completions"
    call_id_prefix = "call_"
    message_id_prefix = "chatcmpl-"
    partial_calls = True

    def __init__(self, *, ollama: bool = False) -> None:
        self.ollama = ollama

    def parse(self, body: object, route: Mapping[str, str] | None = None) -> SimRequest:
        """Validate a Chat Completions request (see the module docstring).

        Raises:
            WireError: the request is invalid.
        """
        if not isinstance(body, dict):
            raise WireError("Request body must be a JSON object")
        model = body.get("model")
        if not isinstance(model, str) or not model:
            raise WireError("you must provide a model parameter")
        stream = body.get("stream", False)
        if not isinstance(stream, bool):
            invalid_type("stream", "boolean")
        if "stream_options" in body and not stream:
            raise WireError(
                "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
                param="stream_options",
            )
        tools = body.get("tools", [])
        _check_tools(tools)
        parallel = body.get("parallel_tool_calls", True)
        if not isinstance(parallel, bool):
            invalid_type("parallel_tool_calls", "boolean")
        if "parallel_tool_calls" in body and not tools:
            raise WireError(
                "Invalid value for 'parallel_tool_calls': 'parallel_tool_calls' is only allowed "
                "when 'tools' are specified.",
                param="parallel_tool_calls",
            )
        cap = token_cap(body, "max_completion_tokens")
        legacy = token_cap(body, "max_tokens")
        messages = body.get("messages")
        history = _check_messages(messages)
        return SimRequest(
            model=model,
            stream=stream,
            history=history,
            max_calls=None if parallel else 1,
            input_tokens=count_json_tokens({"messages": messages, "tools": tools}),
            body=body,
            max_output_tokens=legacy if cap is None else cap,
        )

    def error_body(self, error: WireError) -> dict[str, Any]:
        """OpenAI's error shape."""
        return error_body(error)

    def response(self, request: SimRequest, reply: Reply, info: Rendering) -> dict[str, Any]:
        """A ``chat.completion`` with the text and ``tool_calls`` in one message."""
        message: dict[str, Any] = {
            "role": "assistant",
            "content": reply.text or None,
            "refusal": None,
        }
        if reply.calls or reply.cut_call:
            message["tool_calls"] = [
                {
                    "id": call_id,
                    "type": "function",
                    "function": {"name": name, "arguments": arguments},
                }
                for call_id, name, arguments in _calls(reply)
            ]
        choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": _finish(reply)}
        return {
            **_head(request, info, "chat.completion"),
            "choices": [choice],
            "usage": _usage(info),
        }

    def events(self, request: SimRequest, reply: Reply, info: Rendering) -> Iterator[SseEvent]:
        """Role chunk, content deltas, per-call chunks, the finish chunk, usage, ``[DONE]``."""
        options = request.body.get("stream_options") or {}
        with_usage = isinstance(options, dict) and options.get("include_usage") is True
        head = _head(request, info, "chat.completion.chunk")
        if with_usage:
            head["usage"] = None

        def chunk(delta: dict[str, Any], tokens: int = 0, finish: str | None = None) -> SseEvent:
            choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
            return sse({**head, "choices": [choice]}, tokens=tokens)

        yield chunk({"role": "assistant", "content": "" if reply.text else None, "refusal": None})
        for text, tokens in split_tokens(reply.text):
            yield chunk({"content": text}, tokens)
        for index, (call_id, name, arguments) in enumerate(_calls(reply)):
            at = 0 if self.ollama else index
            first = {"name": name, "arguments": ""}
            new = {"index": at, "id": call_id, "type": "function", "function": first}
            yield chunk({"tool_calls": [new]}, count_tokens(name))
            for part, tokens in split_tokens(arguments):
                yield chunk(
                    {"tool_calls": [{"index": at, "function": {"arguments": part}}]}, tokens
                )
        yield chunk({}, finish=_finish(reply))
        if with_usage:
            yield sse({**head, "choices": [], "usage": _usage(info)})
        yield SseEvent("[DONE]")


def _head(request: SimRequest, info: Rendering, kind: str) -> dict[str, Any]:
    return {
        "id": info.message_id,
        "object": kind,
        "created": info.created,
        "model": request.model,
        "system_fingerprint": None,
    }


def _usage(info: Rendering) -> dict[str, int]:
    return {
        "prompt_tokens": info.input_tokens,
        "completion_tokens": info.output_tokens,
        "total_tokens": info.input_tokens + info.output_tokens,
    }


def _calls(reply: Reply) -> list[tuple[str, str, str]]:
    """(id, name, arguments text) of each call sent: the complete ones, then any cut one."""
    calls = [(c.id, c.name, c.arguments_json) for c in reply.calls]
    if reply.cut_call is not None:
        cut = reply.cut_call
        calls.append((cut.id, cut.name, cut.arguments_json))
    return calls


def _finish(reply: Reply) -> str:
    if reply.truncated:
        return "length"
    return "tool_calls" if reply.calls else "stop"


def _check_tools(tools: object) -> None:
    if not isinstance(tools, list):
        invalid_type("tools", "array")
    for k, tool in enumerate(tools):
        where = f"tools[{k}]"
        if not isinstance(tool, dict) or tool.get("type") != "function":
            raise WireError(
                f"Invalid value for '{where}.type': expected 'function'.",
                param=f"{where}.type",
                code="invalid_value",
            )
        function = tool.get("function")
        if not isinstance(function, dict):
            missing(f"{where}.function")
        check_function(function, f"{where}.function")


def _check_messages(messages: object) -> tuple[Exchange, ...]:
    if messages is None:
        missing("messages")
    if not isinstance(messages, list) or not messages:
        raise WireError(
            "Invalid 'messages': empty array. Expected an array with minimum length 1, "
            "but got an empty array instead.",
            param="messages",
            code="empty_array",
        )
    history: list[Exchange] = []
    calls: dict[str, str] = {}  # tool_call id -> name, of the last assistant message
    answered: list[ReceivedResult] = []
    open_at = -1
    for i, message in enumerate(messages):
        role = message.get("role") if isinstance(message, dict) else None
        if role not in ROLES:
            raise WireError(
                f"Invalid value: {role!r}. Supported values are: 'system', 'assistant', 'user', "
                "'function', 'tool', and 'developer'.",
                param=f"messages[{i}].role",
                code="invalid_value",
            )
        if role == "tool":
            answered.append(_tool_message(message, i, calls, answered))
            history[-1] = Exchange(calls=len(calls), results=tuple(answered))
            continue
        if len(answered) < len(calls):
            _unanswered(open_at, [c for c in calls if c not in {r.call_id for r in answered}])
        calls, answered = {}, []
        if role == "assistant":
            calls, open_at = _tool_calls(message, i), i
            history.append(Exchange(calls=len(calls)))
    if len(answered) < len(calls):
        _unanswered(open_at, [c for c in calls if c not in {r.call_id for r in answered}])
    return tuple(history)


def _tool_calls(message: dict[str, Any], i: int) -> dict[str, str]:
    raw = message.get("tool_calls") or []
    if not isinstance(raw, list):
        invalid_type(f"messages[{i}].tool_calls", "array")
    calls: dict[str, str] = {}
    for k, call in enumerate(raw):
        where = f"messages[{i}].tool_calls[{k}]"
        if not isinstance(call, dict) or not isinstance(call.get("id"), str):
            missing(f"{where}.id")
        function = call.get("function")
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            missing(f"{where}.function.name")
        if not isinstance(function.get("arguments"), str):
            missing(f"{where}.function.arguments")
        calls[call["id"]] = function["name"]
    return calls


def _tool_message(
    message: dict[str, Any], i: int, calls: dict[str, str], answered: list[ReceivedResult]
) -> ReceivedResult:
    if not calls:
        raise WireError(
            "Invalid parameter: messages with role 'tool' must be a response to a preceeding "
            "message with 'tool_calls'.",
            param=f"messages.[{i}].role",
        )
    call_id = message.get("tool_call_id")
    if not isinstance(call_id, str):
        missing(f"messages[{i}].tool_call_id")
    if call_id not in calls:
        raise WireError(
            f"Invalid parameter: 'tool_call_id' of '{call_id}' not found in 'tool_calls' of "
            "previous message.",
            param=f"messages.[{i}].tool_call_id",
        )
    if any(r.call_id == call_id for r in answered):
        raise WireError(
            f"Invalid parameter: duplicate response for 'tool_call_id' of '{call_id}'.",
            param=f"messages.[{i}].tool_call_id",
        )
    content = message.get("content", "")
    if isinstance(content, list):
        content = "".join(_text_part(part, i, k) for k, part in enumerate(content))
    if not isinstance(content, str):
        invalid_type(f"messages[{i}].content", "string")
    return ReceivedResult(call_id, content, looks_like_error(content), calls[call_id])


def _text_part(part: object, i: int, k: int) -> str:
    """A part of a ``tool`` message's content: text only, as the API has it."""
    kind = part.get("type") if isinstance(part, dict) else None
    if kind in MEDIA_PARTS:
        plural, one = MEDIA_PARTS[kind]
        raise WireError(
            f"Invalid 'messages[{i}]'. {plural} are only allowed for messages with role 'user', "
            f"but this message with role 'tool' contains {one}.",
            param=f"messages[{i}]",
            code="invalid_value",
        )
    if kind != "text" or not isinstance(part, dict):
        raise WireError(
            f"Invalid value: {kind!r}. Supported values are: 'text'.",
            param=f"messages[{i}].content[{k}].type",
            code="invalid_value",
        )
    text = part.get("text")
    if not isinstance(text, str):
        missing(f"messages[{i}].content[{k}].text")
    return text


MEDIA_PARTS = {
    "image_url": ("Image URLs", "an image URL"),
    "input_audio": ("Audio inputs", "an audio input"),
    "file": ("Files", "a file"),
}
"""Parts a user message may hold but a ``tool`` message may not, as the API names them."""


def _unanswered(at: int, ids: list[str]) -> NoReturn:
    raise WireError(
        "An assistant message with 'tool_calls' must be followed by tool messages responding to "
        "each 'tool_call_id'. The following tool_call_ids did not have response messages: "
        + ", ".join(ids),
        param=f"messages.[{at}].role",
    )
