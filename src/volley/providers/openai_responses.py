"""OpenAI Responses API, through the official SDK (`AsyncOpenAI().responses`).

Without `previous_response_id`, each request carries the whole conversation: the model's
`function_call` items (and reasoning items) are echoed back, each followed by results as
`function_call_output` items in call order. The API refuses an output without its call ("No tool
call found for function call output") and a call without its output ("No tool output found"). The
format has no error flag: a failure's output text starts with "Error:". A result with images goes
out as a list of `input_text` and `input_image` items (data URLs); audio, which a function output
cannot carry, is described in an `input_text` item.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .._content import json_safe
from .._messages import Message, ModelTurn, ToolReturns, UserPrompt
from .._parts import Image, Part
from .._tool import Tool
from ._adapter import SDKAdapter
from ._base import ModelRequest, arguments_text, missing_extra, unflagged_text
from ._media import Accepts, texts_and_media
from ._names import ToolNames
from .streams.openai_responses import OpenAIResponsesAssembler, turn_from_response

if TYPE_CHECKING:
    from openai import AsyncOpenAI


__all__ = ["OpenAIResponsesProvider"]


class OpenAIResponsesProvider(SDKAdapter):
    """OpenAI models over the Responses API.

    Args:
        model: e.g. `gpt-5.4`.
        client: an `AsyncOpenAI` to use (its retry settings apply); one is made if `None`.
    """

    provider = "openai-responses"
    client: AsyncOpenAI

    def __init__(self, model: str, *, client: AsyncOpenAI | None = None) -> None:
        try:
            import openai
        except ImportError:
            raise missing_extra("openai", "openai") from None
        from ._credentials import openai_client

        made = client or openai_client(f"{self.provider}:{model}", None)
        super().__init__(model, made, made_here=client is None)
        self._refusals = (openai.BadRequestError,)

    async def _send(self, params: dict[str, Any]) -> Any:
        return await self.client.responses.create(**params)

    async def _send_streamed(self, params: dict[str, Any]) -> Any:
        return await self.client.responses.create(**params, stream=True)

    def _turn(self, response: Any, names: ToolNames) -> ModelTurn:
        return turn_from_response(response, names)

    def _assembler(self, names: ToolNames) -> Any:
        return OpenAIResponsesAssembler(names)

    def _params(self, request: ModelRequest, names: ToolNames) -> dict[str, Any]:
        params: dict[str, Any] = {
            "model": self.model,
            "input": _map_messages(request.messages, names),
        }
        if request.instructions:
            params["instructions"] = request.instructions
        if request.max_tokens:
            params["max_output_tokens"] = request.max_tokens
        if request.tools:
            params["tools"] = [_map_tool(t, names) for t in request.tools]
            params["parallel_tool_calls"] = request.parallel
        return params


def _map_tool(tool: Tool[..., Any], names: ToolNames) -> dict[str, Any]:
    return {
        "type": "function",
        "name": names.to_wire(tool.name),
        "description": tool.description,
        "parameters": tool.schema,
        "strict": False,
    }


def _map_messages(messages: Sequence[Message], names: ToolNames) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for message in messages:
        if isinstance(message, UserPrompt):
            items.append({"role": "user", "content": message.text})
        elif isinstance(message, ModelTurn):
            items.extend(json_safe(_model_items(message, names)))  # encodable, whatever it holds
        elif isinstance(message, ToolReturns):
            items.extend(
                {
                    "type": "function_call_output",
                    "call_id": r.call_id,
                    "output": (
                        (_output_list(r.parts) or r.content) if r.parts else unflagged_text(r)
                    ),
                }
                for r in message.results
            )
    return items


ACCEPTS = Accepts(
    images=("image/png", "image/jpeg", "image/webp", "image/gif"),
    max_encoded=50 * 1024 * 1024,  # the API's limit on a request's images
)
"""What a `function_call_output` takes: images as data URLs (text and files too); no audio."""


def _output_list(parts: tuple[Part, ...]) -> list[dict[str, Any]]:
    """A result with media as the output's list of `input_text` and `input_image` items."""
    out: list[dict[str, Any]] = []
    for piece in texts_and_media(parts, ACCEPTS):
        if isinstance(piece, str):
            out.append({"type": "input_text", "text": piece})
        elif isinstance(piece, Image):
            out.append({"type": "input_image", "image_url": piece.data_url})
    return out


def _model_items(turn: ModelTurn, names: ToolNames) -> list[dict[str, Any]]:
    echoed = turn.provider_data.get("responses_items")
    if echoed is not None:  # reasoning items and all, as the API sent them
        return list(echoed)
    items: list[dict[str, Any]] = []
    if turn.text:
        items.append({"role": "assistant", "content": turn.text})
    for call in turn.calls:
        items.append(
            {
                "type": "function_call",
                "call_id": call.id,
                "name": names.to_wire(call.name),
                "arguments": arguments_text(call),
            }
        )
    return items
