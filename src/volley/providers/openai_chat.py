"""OpenAI Chat Completions, through the official SDK (`AsyncOpenAI`); also any compatible server.

vLLM, llama.cpp and Ollama speak this format: pass `base_url`. Results go back as one `tool`
message per call, right after the assistant message, in call order; the format has no error flag,
so a failure's content starts with "Error:". A `tool` message carries text only: a result's images
and audio are named in its text, with a sentence saying that they could not be shown. Arguments
arrive as JSON text and are handed to the executor as text, so malformed JSON from a model becomes
an `invalid_arguments` result the model reads, not an exception here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .._call import ToolCall
from .._content import json_safe
from .._errors import ProviderError
from .._messages import Message, ModelTurn, ToolReturns, Usage, UserPrompt
from .._parts import Audio, Image, Part
from .._tool import Tool
from ._adapter import SDKAdapter
from ._base import ModelRequest, arguments_text, missing_extra, unflagged_text
from ._names import ToolNames
from .streams.openai_chat import STOP_REASONS, OpenAIChatAssembler

if TYPE_CHECKING:
    from openai import AsyncOpenAI
    from openai.types.chat import ChatCompletion


__all__ = ["OpenAIChatProvider"]


class OpenAIChatProvider(SDKAdapter):
    """GPT models, or any OpenAI-compatible server, over Chat Completions.

    Args:
        model: e.g. `gpt-5.4`, or the name a local server gives its model.
        client: an `AsyncOpenAI` to use (its retry settings apply); one is made if `None`.
        base_url: an OpenAI-compatible server, e.g. `http://localhost:11434/v1` (Ollama); it
            needs no API key (without `OPENAI_API_KEY`, a placeholder is sent).
        provider: the prefix of `name` (`openai`, or e.g. `openai-compatible`).
    """

    client: AsyncOpenAI

    def __init__(
        self,
        model: str,
        *,
        client: AsyncOpenAI | None = None,
        base_url: str | None = None,
        provider: str = "openai",
    ) -> None:
        try:
            import openai
        except ImportError:
            raise missing_extra("openai", "openai") from None
        from ._credentials import openai_client

        made = client or openai_client(f"{provider}:{model}", base_url)
        super().__init__(model, made, made_here=client is None)
        self.provider = provider
        self._refusals = (openai.BadRequestError,)

    async def _send(self, params: dict[str, Any]) -> Any:
        return await self.client.chat.completions.create(**params)

    async def _send_streamed(self, params: dict[str, Any]) -> Any:
        # Usage comes in a last chunk of its own, only when asked for.
        params = {**params, "stream_options": {"include_usage": True}}
        return await self.client.chat.completions.create(**params, stream=True)

    def _turn(self, response: Any, names: ToolNames) -> ModelTurn:
        return _process_response(response, names)

    def _assembler(self, names: ToolNames) -> Any:
        return OpenAIChatAssembler(names)

    def _failure(self, exc: BaseException, params: dict[str, Any]) -> ProviderError:
        """A 404 from a base URL without `/v1` is, nearly always, a base URL missing `/v1`."""
        error = super()._failure(exc, params)
        base = str(self.client.base_url).rstrip("/")
        if error.status != 404 or base.endswith("/v1"):
            return error
        hint = (
            f"{error.detail} (the server at {base} has no such path; OpenAI-compatible servers "
            f"usually serve under /v1: try base URL {base}/v1)"
        )
        return ProviderError(self.name, hint, kind=error.kind, status=404, request=params)

    def _params(self, request: ModelRequest, names: ToolNames) -> dict[str, Any]:
        messages = _map_messages(request.messages, names)
        if request.instructions:
            messages.insert(0, {"role": "system", "content": request.instructions})
        params: dict[str, Any] = {"model": self.model, "messages": messages}
        if request.max_tokens:
            params["max_completion_tokens"] = request.max_tokens
        if request.tools:
            params["tools"] = [_map_tool(t, names) for t in request.tools]
            params["parallel_tool_calls"] = request.parallel
        return params


def _map_tool(tool: Tool[..., Any], names: ToolNames) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {
            "name": names.to_wire(tool.name),
            "description": tool.description,
            "parameters": tool.schema,
        },
    }


def _map_messages(messages: Sequence[Message], names: ToolNames) -> list[dict[str, Any]]:
    wire: list[dict[str, Any]] = []
    for message in messages:
        if isinstance(message, UserPrompt):
            wire.append({"role": "user", "content": message.text})
        elif isinstance(message, ModelTurn):
            wire.append(json_safe(_assistant_message(message, names)))  # encodable, always
        elif isinstance(message, ToolReturns):
            wire.extend(
                {
                    "role": "tool",
                    "tool_call_id": r.call_id,
                    "content": _with_note(r.content, r.parts) if r.parts else unflagged_text(r),
                }
                for r in message.results
            )
    return wire


def _with_note(content: str, parts: tuple[Part, ...]) -> str:
    """A result's text (its media named where they stood), and a word on why they are not shown.

    A `tool` message carries text only (the API refuses image parts in it).
    """
    images = sum(isinstance(part, Image) for part in parts)
    sounds = sum(isinstance(part, Audio) for part in parts)
    counted = [
        f"{n} {word}{'' if n == 1 else 's'}"
        for n, word in ((images, "image"), (sounds, "audio clip"))
        if n
    ]
    if not counted:
        return content
    verb = "is" if images + sounds == 1 else "are"
    return (
        f"{content}\n({' and '.join(counted)} of this result {verb} not shown: this API's tool "
        "messages carry text only)"
    )


def _assistant_message(turn: ModelTurn, names: ToolNames) -> dict[str, Any]:
    # Built field by field: echoing the SDK's objects would send fields the API rejects.
    message: dict[str, Any] = {"role": "assistant", "content": turn.text or None}
    if turn.calls:
        message["tool_calls"] = [
            {
                "id": call.id,
                "type": "function",
                "function": {
                    "name": names.to_wire(call.name),
                    "arguments": arguments_text(call),
                },
            }
            for call in turn.calls
        ]
    return message


def _process_response(completion: ChatCompletion, names: ToolNames) -> ModelTurn:
    choice = completion.choices[0]
    calls = tuple(
        ToolCall(call.id, names.from_wire(call.function.name), call.function.arguments)
        for call in choice.message.tool_calls or ()
        if call.type == "function"
    )
    usage = completion.usage
    return ModelTurn(
        text=choice.message.content or "",
        calls=calls,
        stop=STOP_REASONS.get(choice.finish_reason or "", "other"),
        usage=Usage(usage.prompt_tokens, usage.completion_tokens) if usage else Usage(),
        model=completion.model,
    )
