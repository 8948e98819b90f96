"""Google Gemini, through the official SDK (`google-genai`, `client.aio`).

The SDK's own automatic function calling is turned off: volley runs the calls. Results go back
as ONE `user` content with one `functionResponse` per call, in call order (the API rejects a
count that differs). Gemini 3 signs its turns (`thoughtSignature` on the first call part): the
model's content is echoed back exactly as it came. Gemini has no switch for parallel calls:
`parallel=False` is not sent anywhere (the instructions may ask for one call at a time). A
result's images go inside its function response (`parts` of inline data); audio, which a function
response cannot hold, follows the responses in the same turn as inline data, labelled with the
result it belongs to.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .._call import ToolCall, ToolResult
from .._content import json_safe
from .._messages import Message, ModelTurn, ToolReturns, Usage, UserPrompt
from .._parts import Image, describe_media
from .._tool import Tool
from ._adapter import SDKAdapter
from ._base import ModelRequest, missing_extra
from ._media import Accepts, prepare
from ._names import ToolNames
from .streams.gemini import LOCAL_ID_PREFIX, STOP_REASONS, GeminiAssembler

if TYPE_CHECKING:
    from google.genai import Client
    from google.genai import types as genai_types


__all__ = ["GeminiProvider"]


class GeminiProvider(SDKAdapter):
    """Gemini models over `generateContent`.

    Args:
        model: e.g. `gemini-3.1-pro`.
        client: a `google.genai.Client` to use; one is made (from the environment) if `None`.
    """

    provider = "gemini"
    client: Client
    _lazy_stream = True

    def __init__(self, model: str, *, client: Client | None = None) -> None:
        try:
            from google.genai import errors, types
        except ImportError:
            raise missing_extra("google-genai", "gemini") from None
        from ._credentials import gemini_client

        made = client or gemini_client(f"{self.provider}:{model}")
        super().__init__(model, made, made_here=client is None)
        self._types = types
        self._refusals = (errors.APIError,)

    async def _send(self, params: dict[str, Any]) -> Any:
        return await self.client.aio.models.generate_content(**params)

    async def _send_streamed(self, params: dict[str, Any]) -> Any:
        return await self.client.aio.models.generate_content_stream(**params)

    def _turn(self, response: Any, names: ToolNames) -> ModelTurn:
        return _process_response(response, names)

    def _assembler(self, names: ToolNames) -> Any:
        return GeminiAssembler(names)

    async def _close_client(self) -> None:
        await self.client.aio.aclose()

    def _params(self, request: ModelRequest, names: ToolNames) -> dict[str, Any]:
        types = self._types
        config = types.GenerateContentConfig(
            system_instruction=request.instructions,
            max_output_tokens=request.max_tokens,
            automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
            tools=[
                types.Tool(function_declarations=[_declare(t, names, types) for t in request.tools])
            ]
            if request.tools
            else None,
        )
        contents = _map_messages(request.messages, names, types)
        return {"model": self.model, "contents": contents, "config": config}


def _declare(tool: Tool[..., Any], names: ToolNames, types: Any) -> Any:
    return types.FunctionDeclaration(
        name=names.to_wire(tool.name),
        description=tool.description,
        parameters_json_schema=tool.schema,
    )


def _map_messages(messages: Sequence[Message], names: ToolNames, types: Any) -> list[Any]:
    contents: list[Any] = []
    for message in messages:
        if isinstance(message, UserPrompt):
            contents.append(types.Content(role="user", parts=[types.Part(text=message.text)]))
        elif isinstance(message, ModelTurn):
            contents.append(_model_content(message, names, types))
        elif isinstance(message, ToolReturns):
            contents.append(_responses(message, names, types))
    return contents


def _model_content(turn: ModelTurn, names: ToolNames, types: Any) -> Any:
    echoed = turn.provider_data.get("gemini_content")
    if isinstance(echoed, Mapping):  # read back from a journal as JSON: bytes are base64 there
        echoed = types.Content.model_validate_json(json.dumps(echoed))
    if echoed is not None:  # signatures and thoughts exactly as the model sent them
        return _encodable(echoed)
    parts = [types.Part(text=turn.text)] if turn.text else []
    for call in turn.calls:
        arguments = dict(call.arguments) if not isinstance(call.arguments, str) else {}
        parts.append(
            types.Part(
                function_call=types.FunctionCall(
                    id=call.id, name=names.to_wire(call.name), args=arguments
                )
            )
        )
    return types.Content(role="model", parts=parts)


def _encodable(content: Any) -> Any:
    """The content with what the SDK parsed leniently (NaN, lone surrogates) made sendable.

    Only the parts that need it are copied; a signature stays on the part it came with.
    """
    parts = content.parts or []
    fixed = []
    for part in parts:
        call = part.function_call
        if call is not None and call.args and json_safe(call.args) is not call.args:
            call = call.model_copy(update={"args": json_safe(call.args)})
            part = part.model_copy(update={"function_call": call})
        if part.text and json_safe(part.text) is not part.text:
            part = part.model_copy(update={"text": json_safe(part.text)})
        fixed.append(part)
    if all(a is b for a, b in zip(fixed, parts, strict=True)):
        return content
    return content.model_copy(update={"parts": fixed})


def _responses(returns: ToolReturns, names: ToolNames, types: Any) -> Any:
    parts = []
    after: list[Any] = []  # audio, which a function response cannot hold: after them all
    for k, result in enumerate(returns.results):
        payload = {"error": result.content} if result.is_error else {"output": result.content}
        call_id = None if result.call_id.startswith(LOCAL_ID_PREFIX) else result.call_id
        response = types.FunctionResponse(
            id=call_id, name=names.to_wire(result.name), response=payload
        )
        if result.parts:
            response = _with_media(response, result, k, after, types)
        parts.append(types.Part(function_response=response))
    return types.Content(role="user", parts=parts + after)


ACCEPTS = Accepts(
    images=("image/png", "image/jpeg", "image/webp"),
    max_encoded=20 * 1024 * 1024,  # inline data beyond this goes through the Files API
    audio=("audio/wav", "audio/mp3", "audio/aiff", "audio/aac", "audio/ogg", "audio/flac"),
)
"""What Gemini takes: images inside a function response, audio inline in the same turn."""


def _with_media(response: Any, result: ToolResult, k: int, after: list[Any], types: Any) -> Any:
    """The function response with its images, each audio clip added to `after` with a label.

    The response's text still names every medium where it stood; a medium that cannot be sent
    is named again, with why.
    """
    media: list[Any] = []
    notes: list[str] = []
    for part in result.parts:
        if isinstance(part, str):
            continue
        piece = prepare(part, ACCEPTS)
        if isinstance(piece, str):
            notes.append(piece)
        elif isinstance(piece, Image):
            blob = types.FunctionResponseBlob(mime_type=piece.media_type, data=piece.data)
            media.append(types.FunctionResponsePart(inline_data=blob))
        else:
            label = f"{describe_media(piece)}, from result {k + 1} ({response.name}):"
            after.append(types.Part(text=label))
            after.append(
                types.Part(inline_data=types.Blob(mime_type=piece.media_type, data=piece.data))
            )
    update: dict[str, Any] = {"parts": media} if media else {}
    if notes:
        key = "error" if result.is_error else "output"
        update["response"] = {key: "\n".join([result.content, *notes])}
    return response.model_copy(update=update) if update else response


def _process_response(response: genai_types.GenerateContentResponse, names: ToolNames) -> ModelTurn:
    candidate = response.candidates[0] if response.candidates else None
    content = candidate.content if candidate is not None else None
    texts: list[str] = []
    calls: list[ToolCall] = []
    for part in (content.parts if content is not None else None) or ():
        if part.function_call is not None:
            call = part.function_call
            call_id = call.id or f"{LOCAL_ID_PREFIX}{uuid.uuid4().hex[:12]}"
            calls.append(ToolCall(call_id, names.from_wire(call.name or ""), dict(call.args or {})))
        elif part.text and not part.thought:
            texts.append(part.text)
    finish = candidate.finish_reason if candidate is not None else None
    stop = STOP_REASONS.get(str(finish.value) if finish is not None else "", "other")
    if calls and stop == "end":
        stop = "tool_calls"
    usage = response.usage_metadata
    return ModelTurn(
        text="".join(texts),
        calls=tuple(calls),
        stop=stop,
        usage=Usage(usage.prompt_token_count or 0, usage.candidates_token_count or 0)
        if usage is not None
        else Usage(),
        model=response.model_version or "",
        provider_data={"gemini_content": content} if content is not None else {},
    )
