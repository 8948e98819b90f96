"""The Anthropic Messages wire format (``POST /v1/messages``), non-streaming and SSE.

Validation follows the real API where it matters to tool calling: ``model``, ``max_tokens`` and a
non-empty ``messages`` are required; roles are ``user``/``assistant`` and the first is ``user``;
tools need a name matching ``^[a-zA-Z0-9_-]{1,64}$`` (unique) and an object ``input_schema``; every
``tool_use`` id of an assistant message needs exactly one ``tool_result`` in the very next user
message, placed before any other block, and a ``tool_result`` must answer a ``tool_use`` of the
message just before. ``tool_choice.disable_parallel_tool_use: true`` limits a response to one call.

A ``tool_result``'s content is a string or a list of blocks, text and images among them, checked
as the API checks them (see `result_content`). Text and images after the ``tool_result`` blocks of
a message are kept as what came with them (`Exchange.attached`).

``max_tokens`` caps the output (see `truncate`): a reply cut by it has ``stop_reason:
"max_tokens"``. Streamed, a ``tool_use`` block whose input was cut gets its start and the partial
JSON deltas but no ``content_block_stop``; plain, it is left out (see `AnthropicMessages.response`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any, NoReturn

from .._parts import Part
from ._anthropic_content import block_part, result_content
from ._media import Tally
from ._script import Exchange, ReceivedResult, Reply
from ._tokens import count_json_tokens, count_tokens, split_tokens
from ._wire import Rendering, SimRequest, SseEvent, WireError, sse

TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


class AnthropicMessages:
    """Serve the Messages API so that the ``anthropic`` SDK talks to the simulator unchanged."""

    name = "anthropic"
    path = "/v1/messages"
    call_id_prefix = "toolu_"
    message_id_prefix = "msg_"
    partial_calls = True

    def parse(self, body: object, route: Mapping[str, str] | None = None) -> SimRequest:
        """Validate a Messages request (see the module docstring).

        Raises:
            WireError: the request is invalid.
        """
        if not isinstance(body, dict):
            raise WireError("Request body must be a JSON object")
        model = _required(body, "model")
        if not isinstance(model, str) or not model:
            raise WireError("model: Input should be a valid string")
        max_tokens = _required(body, "max_tokens")
        if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
            raise WireError("max_tokens: Input should be an integer greater than or equal to 1")
        stream = body.get("stream", False)
        if not isinstance(stream, bool):
            raise WireError("stream: Input should be a valid boolean")
        tools = body.get("tools", [])
        _check_tools(tools)
        tally = Tally()
        history = _check_messages(_required(body, "messages"), tally)
        return SimRequest(
            model=model,
            stream=stream,
            history=history,
            max_calls=1 if _parallel_disabled(body.get("tool_choice")) else None,
            input_tokens=tally.adjust(
                count_json_tokens(
                    {"system": body.get("system"), "messages": body["messages"], "tools": tools}
                )
            ),
            body=body,
            max_output_tokens=max_tokens,
        )

    def error_body(self, error: WireError) -> dict[str, Any]:
        """Anthropic's error shape."""
        return {
            "type": "error",
            "error": {"type": "invalid_request_error", "message": error.message},
        }

    def response(self, request: SimRequest, reply: Reply, info: Rendering) -> dict[str, Any]:
        """A ``message`` object with text then ``tool_use`` blocks.

        A ``tool_use`` whose input the output cap cut is left out: ``input`` must be a whole
        object, and a caller must not run half a call. Usage still counts its tokens, as the
        model wrote them (the streamed response sends them). A verbatim ``arguments_text`` is
        the raw value of ``input``, JSON or not.
        """
        content: list[dict[str, Any]] = []
        if reply.text:
            content.append({"type": "text", "text": reply.text})
        content.extend(
            {"type": "tool_use", "id": c.id, "name": c.name, "input": c.arguments_value}
            for c in reply.calls
        )
        message = _message(request, reply, info, content)
        message["usage"]["output_tokens"] = info.output_tokens
        return message

    def events(self, request: SimRequest, reply: Reply, info: Rendering) -> Iterator[SseEvent]:
        """``message_start``, each block's start, deltas and stop, ``message_delta``, the stop.

        A call cut by the output cap gets no ``content_block_stop``: its input stops mid-JSON.
        """
        start = _message(request, reply, info, [])
        start["stop_reason"] = None
        yield sse({"type": "message_start", "message": start}, "message_start")
        blocks: list[tuple[dict[str, Any], list[tuple[dict[str, Any], int]], int, bool]] = []
        if reply.text:
            texts = [({"type": "text_delta", "text": t}, n) for t, n in split_tokens(reply.text)]
            blocks.append(({"type": "text", "text": ""}, texts, 0, True))
        cut = reply.cut_call
        calls = [(c.id, c.name, c.arguments_json, True) for c in reply.calls]
        if cut is not None:
            calls.append((cut.id, cut.name, cut.arguments_json, False))
        for call_id, name, arguments, whole in calls:
            pieces = [("", 0), *split_tokens(arguments)]
            deltas = [({"type": "input_json_delta", "partial_json": p}, n) for p, n in pieces]
            block = {"type": "tool_use", "id": call_id, "name": name, "input": {}}
            blocks.append((block, deltas, count_tokens(name), whole))
        if not blocks:  # the cap left nothing to say
            yield sse({"type": "ping"}, "ping")
        for index, (block, deltas, name_tokens, whole) in enumerate(blocks):
            start_event = {"type": "content_block_start", "index": index, "content_block": block}
            yield sse(start_event, "content_block_start", name_tokens)
            if index == 0:
                yield sse({"type": "ping"}, "ping")
            for delta, tokens in deltas:
                event = {"type": "content_block_delta", "index": index, "delta": delta}
                yield sse(event, "content_block_delta", tokens)
            if whole:
                yield sse({"type": "content_block_stop", "index": index}, "content_block_stop")
        stop = {"stop_reason": stop_reason(reply), "stop_sequence": None}
        usage = {"input_tokens": info.input_tokens, "output_tokens": info.output_tokens}
        yield sse({"type": "message_delta", "delta": stop, "usage": usage}, "message_delta")
        yield sse({"type": "message_stop"}, "message_stop")


def stop_reason(reply: Reply) -> str:
    """``max_tokens`` if the output cap cut the reply, else ``tool_use`` or ``end_turn``."""
    if reply.truncated:
        return "max_tokens"
    return "tool_use" if reply.calls else "end_turn"


def _message(
    request: SimRequest, reply: Reply, info: Rendering, content: list[dict[str, Any]]
) -> dict[str, Any]:
    return {
        "id": info.message_id,
        "type": "message",
        "role": "assistant",
        "model": request.model,
        "content": content,
        "stop_reason": stop_reason(reply),
        "stop_sequence": None,
        "usage": {
            "input_tokens": info.input_tokens,
            "output_tokens": 1,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
        },
    }


def _required(body: dict[str, Any], key: str, where: str = "") -> Any:
    if key not in body:
        raise WireError(f"{where}{key}: Field required")
    return body[key]


def _parallel_disabled(choice: object) -> bool:
    if choice is None:
        return False
    if not isinstance(choice, dict) or choice.get("type") not in ("auto", "any", "tool", "none"):
        raise WireError("tool_choice: Input tag should be 'auto', 'any', 'tool' or 'none'")
    if choice["type"] == "tool" and not isinstance(choice.get("name"), str):
        raise WireError("tool_choice.tool.name: Field required")
    disabled = choice.get("disable_parallel_tool_use", False)
    if not isinstance(disabled, bool):
        raise WireError("tool_choice.disable_parallel_tool_use: Input should be a valid boolean")
    return disabled


def _check_tools(tools: object) -> None:
    if not isinstance(tools, list):
        raise WireError("tools: Input should be a valid list")
    names: set[str] = set()
    for k, tool in enumerate(tools):
        if not isinstance(tool, dict):
            raise WireError(f"tools.{k}: Input should be a valid dictionary")
        if tool.get("type", "custom") != "custom":
            continue  # a server tool (web search, ...): the real API knows its schema
        name = _required(tool, "name", f"tools.{k}.custom.")
        if not isinstance(name, str) or not TOOL_NAME.match(name):
            raise WireError(
                f"tools.{k}.custom.name: String should match pattern '{TOOL_NAME.pattern}'"
            )
        schema = _required(tool, "input_schema", f"tools.{k}.custom.")
        if not isinstance(schema, dict) or schema.get("type") != "object":
            raise WireError(f"tools.{k}.custom.input_schema.type: Input should be 'object'")
        if name in names:
            raise WireError("tools: Tool names must be unique.")
        names.add(name)


def _blocks(message: dict[str, Any], where: str) -> list[dict[str, Any]]:
    content = _required(message, "content", f"{where}.")
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    if not isinstance(content, list) or not all(
        isinstance(b, dict) and isinstance(b.get("type"), str) for b in content
    ):
        raise WireError(f"{where}.content: Input should be a valid string or a list of blocks")
    return content


def _check_messages(messages: object, tally: Tally) -> tuple[Exchange, ...]:
    if not isinstance(messages, list) or not messages:
        raise WireError("messages: at least one message is required")
    history: list[Exchange] = []
    open_uses: dict[str, str] = {}  # tool_use id -> tool name, of the assistant message just before
    open_at = -1
    seen_ids: set[str] = set()
    for i, message in enumerate(messages):
        where = f"messages.{i}"
        if not isinstance(message, dict) or message.get("role") not in ("user", "assistant"):
            raise WireError(f"{where}.role: Input should be 'user' or 'assistant'")
        if i == 0 and message["role"] != "user":
            raise WireError('messages: first message must use the "user" role')
        blocks = _blocks(message, where)
        if open_uses and message["role"] != "user":
            _unanswered(open_at, list(open_uses))
        if message["role"] == "assistant":
            open_uses = _tool_uses(blocks, where, seen_ids)
            open_at = i
            history.append(Exchange(calls=len(open_uses)))
            continue
        results, attached = _tool_results(blocks, where, open_uses, tally)
        if open_uses:
            missing = [u for u in open_uses if u not in {r.call_id for r in results}]
            if missing:
                _unanswered(open_at, missing)
            history[-1] = Exchange(history[-1].calls, tuple(results), tuple(attached))
        open_uses = {}
    if open_uses:
        _unanswered(open_at, list(open_uses))
    return tuple(history)


def _tool_uses(blocks: list[dict[str, Any]], where: str, seen: set[str]) -> dict[str, str]:
    uses: dict[str, str] = {}
    for j, block in enumerate(blocks):
        if block["type"] == "tool_result":
            raise WireError(
                f"{where}.content.{j}: tool_result blocks are only allowed in user turns"
            )
        if block["type"] != "tool_use":
            continue
        use_id, name = block.get("id"), block.get("name")
        if not isinstance(use_id, str) or not isinstance(name, str):
            raise WireError(f"{where}.content.{j}.tool_use: id and name are required strings")
        if not isinstance(block.get("input"), dict):
            raise WireError(
                f"{where}.content.{j}.tool_use.input: Input should be a valid dictionary"
            )
        if use_id in seen:
            raise WireError(f"{where}.content.{j}: `tool_use` ids must be unique")
        seen.add(use_id)
        uses[use_id] = name
    return uses


def _tool_results(
    blocks: list[dict[str, Any]], where: str, open_uses: dict[str, str], tally: Tally
) -> tuple[list[ReceivedResult], list[Part]]:
    """The results a user message carries, and the text and images after them."""
    results: list[ReceivedResult] = []
    attached: list[Part] = []
    others = False
    for j, block in enumerate(blocks):
        if block["type"] != "tool_result":
            others = True
            part = block_part(block, f"{where}.content.{j}", tally) if open_uses else None
            if part is not None:
                attached.append(part)
            continue
        use_id = block.get("tool_use_id")
        if use_id not in open_uses:
            raise WireError(
                f"{where}.content.{j}: unexpected `tool_use_id` found in `tool_result` blocks: "
                f"{use_id}. Each `tool_result` block must have a corresponding `tool_use` block "
                "in the previous message."
            )
        if others:
            raise WireError(
                f"{where}.content.{j}: `tool_result` blocks must come first in the message "
                "content, before any other block"
            )
        if any(r.call_id == use_id for r in results):
            raise WireError(f"{where}.content.{j}: duplicate `tool_result` for id {use_id}")
        is_error = block.get("is_error", False)
        if not isinstance(is_error, bool):
            raise WireError(f"{where}.content.{j}.is_error: Input should be a valid boolean")
        text, parts = result_content(block, f"{where}.content.{j}", tally)
        results.append(ReceivedResult(use_id, text, is_error, open_uses[use_id], parts))
    return results, attached


def _unanswered(at: int, ids: list[str]) -> NoReturn:
    raise WireError(
        f"messages.{at}: `tool_use` ids were found without `tool_result` blocks immediately "
        f"after: {', '.join(ids)}. Each `tool_use` block must have a corresponding "
        "`tool_result` block in the next message."
    )
