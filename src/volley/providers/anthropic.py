"""Anthropic Messages API, through the official SDK (`AsyncAnthropic`).

Results go back as ONE user message whose `tool_result` blocks come first, one per call, in call
order, with `is_error` set on failures: the API rejects a turn whose tool_use ids are not all
answered in the very next message, and splitting the results over several messages teaches the
model to stop calling tools in parallel. A result with images sends them as `image` blocks among
its text blocks; audio, which the API does not take, is described in a text block.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .._call import ToolCall, ToolResult
from .._content import json_safe
from .._messages import Message, ModelTurn, ToolReturns, Usage, UserPrompt
from .._tool import Tool
from ._adapter import SDKAdapter
from ._base import ModelRequest, missing_extra
from ._media import Accepts, texts_and_media
from ._names import ToolNames
from .streams.anthropic import STOP_REASONS, AnthropicAssembler

if TYPE_CHECKING:
    from anthropic import AsyncAnthropic
    from anthropic.types import Message as WireMessage


__all__ = ["AnthropicProvider"]

DEFAULT_MAX_TOKENS = 4096


class AnthropicProvider(SDKAdapter):
    """Claude models over the Messages API.

    Args:
        model: e.g. `claude-sonnet-4-6`.
        client: an `AsyncAnthropic` to use (its retry settings apply); one is made if `None`.
        max_tokens: the default cap on a turn's output, which the API requires.
    """

    provider = "anthropic"
    client: AsyncAnthropic

    def __init__(
        self,
        model: str,
        *,
        client: AsyncAnthropic | None = None,
        max_tokens: int = DEFAULT_MAX_TOKENS,
    ) -> None:
        try:
            import anthropic
        except ImportError:
            raise missing_extra("anthropic", "anthropic") from None
        from ._credentials import anthropic_client

        made = client or anthropic_client(f"{self.provider}:{model}")
        super().__init__(model, made, made_here=client is None)
        self.max_tokens = max_tokens
        self._refusals = (anthropic.BadRequestError,)

    async def _send(self, params: dict[str, Any]) -> Any:
        return await self.client.messages.create(**params)

    async def _send_streamed(self, params: dict[str, Any]) -> Any:
        return await self.client.messages.create(**params, stream=True)

    def _turn(self, response: Any, names: ToolNames) -> ModelTurn:
        return _process_response(response, names)

    def _assembler(self, names: ToolNames) -> Any:
        return AnthropicAssembler(names)

    def _params(self, request: ModelRequest, names: ToolNames) -> dict[str, Any]:
        params: dict[str, Any] = {
            "model": self.model,
            "max_tokens": request.max_tokens or self.max_tokens,
            "messages": _map_messages(request.messages, names),
        }
        if request.instructions:
            params["system"] = request.instructions
        if request.tools:
            params["tools"] = [_map_tool(t, names) for t in request.tools]
            params["tool_choice"] = {
                "type": "auto",
                "disable_parallel_tool_use": not request.parallel,
            }
        return params


def _map_tool(tool: Tool[..., Any], names: ToolNames) -> dict[str, Any]:
    return {
        "name": names.to_wire(tool.name),
        "description": tool.description,
        "input_schema": tool.schema,
    }


def _map_messages(messages: Sequence[Message], names: ToolNames) -> list[dict[str, Any]]:
    wire: list[dict[str, Any]] = []
    for message in messages:
        if isinstance(message, UserPrompt):
            wire.append({"role": "user", "content": message.text})
        elif isinstance(message, ModelTurn):
            # What the model wrote may hold what an SDK parsed leniently (NaN, a lone surrogate):
            # sent back as it came, the request could not be encoded.
            content = json_safe(_assistant_content(message, names))
            wire.append({"role": "assistant", "content": content})
        elif isinstance(message, ToolReturns):
            wire.append({"role": "user", "content": [_tool_result(r) for r in message.results]})
    return wire


def _assistant_content(turn: ModelTurn, names: ToolNames) -> list[dict[str, Any]]:
    echoed = turn.provider_data.get("anthropic_content")
    if echoed is not None:  # exactly what the API sent, thinking blocks and all
        return list(echoed)
    content: list[dict[str, Any]] = []
    if turn.text:
        content.append({"type": "text", "text": turn.text})
    for call in turn.calls:
        arguments = call.arguments if isinstance(call.arguments, Mapping) else {}
        content.append(
            {
                "type": "tool_use",
                "id": call.id,
                "name": names.to_wire(call.name),
                "input": dict(arguments),
            }
        )
    return content


def _tool_result(result: ToolResult) -> dict[str, Any]:
    block: dict[str, Any] = {
        "type": "tool_result",
        "tool_use_id": result.call_id,
        "content": result.content,
    }
    if result.parts:  # images go as image blocks, in order with the text
        block["content"] = _content_blocks(result) or result.content
    if result.is_error:
        block["is_error"] = True
    return block


ACCEPTS = Accepts(
    images=("image/png", "image/jpeg", "image/gif", "image/webp"),
    max_encoded=5 * 1024 * 1024,  # "image exceeds 5 MB maximum", counted on the base64 text
)
"""What a `tool_result` takes: images of four types, of at most 5 MB as base64; no audio."""


def _content_blocks(result: ToolResult) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    for piece in texts_and_media(result.parts, ACCEPTS):
        if isinstance(piece, str):
            blocks.append({"type": "text", "text": piece})
        else:
            source = {"type": "base64", "media_type": piece.media_type, "data": piece.base64}
            blocks.append({"type": "image", "source": source})
    return blocks


def _process_response(message: WireMessage, names: ToolNames) -> ModelTurn:
    texts: list[str] = []
    calls: list[ToolCall] = []
    echoed: list[dict[str, Any]] = []
    for block in message.content:
        if block.type == "tool_use":
            given = block.input
            # A server may send an input that is not an object: the executor says so to the
            # model (as text), and the echo carries an object, which is all the API accepts.
            arguments = given if isinstance(given, dict) else json.dumps(given)
            calls.append(ToolCall(block.id, names.from_wire(block.name), arguments))
            echoed.append(
                {
                    "type": "tool_use",
                    "id": block.id,
                    "name": block.name,
                    "input": given if isinstance(given, dict) else {},
                }
            )
            continue
        echoed.append(block.to_dict(mode="json", exclude_none=True))
        if block.type == "text":
            texts.append(block.text)
    return ModelTurn(
        text="".join(texts),
        calls=tuple(calls),
        stop=STOP_REASONS.get(message.stop_reason or "", "other"),
        usage=Usage(message.usage.input_tokens, message.usage.output_tokens),
        model=message.model,
        provider_data={"anthropic_content": echoed},
    )
