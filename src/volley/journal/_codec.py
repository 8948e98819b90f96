"""Journal records as JSON text, and back: the only place that knows their shape.

Records are read back by another process, maybe another version, maybe from a file someone
edited or a crash cut short, so reading is strict and bounded: every record is validated by
pydantic (whose JSON parser stops at a nesting depth of 200), and anything a model or a tool
produced (arguments, values, what a provider asks to be echoed) is kept as JSON *text* inside
the record, parsed again only when it is used. A record that does not validate is a
`JournalCorrupt` naming the run and the record, never a crash somewhere later.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Annotated, Any, Literal, TypeAlias

import pydantic_core
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from .._call import ErrorKind, ToolCall, ToolResult
from .._content import json_safe
from .._messages import Message, ModelTurn, StopReason, ToolReturns, Usage, UserPrompt
from .._parts import Audio, Image, Part
from ._base import JournalCorrupt

__all__ = [
    "MAX_VALUE_CHARS",
    "ApprovalRecord",
    "EndRecord",
    "FinishedRecord",
    "PausedRecord",
    "Record",
    "RunHeader",
    "StartedRecord",
    "TurnEnded",
    "TurnRecord",
    "decode",
    "encode",
    "from_call",
    "from_message",
    "from_result",
    "from_turn",
    "to_messages",
]

MAX_VALUE_CHARS = 1_000_000
"""A tool's return value longer than this as JSON is not kept (its text for the model is)."""


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class CallData(_Strict):
    id: str
    name: str
    arguments: str
    """The arguments as JSON text (or the raw text the model wrote, when `raw`)."""
    raw: bool = False


class PartData(_Strict):
    text: str | None = None
    media: Literal["image", "audio"] | None = None
    data: str = ""
    """base64"""
    media_type: str = ""


class ResultData(_Strict):
    call_id: str
    name: str
    content: str
    is_error: bool = False
    error_kind: ErrorKind | None = None
    value: str | None = None
    """The tool's return value as JSON text; `None` when it was `None` or could not be kept."""
    started_at: float | None = None
    ended_at: float | None = None
    attempts: int = 0
    duplicate_of: str | None = None
    parts: tuple[PartData, ...] = ()
    hedges: int = Field(default=0, exclude_if=lambda hedges: hedges == 0)
    """Left out when 0, so that a journal of a run that never hedged reads in older versions."""


class UserData(_Strict):
    kind: Literal["user"] = "user"
    text: str


class ModelTurnData(_Strict):
    kind: Literal["model"] = "model"
    text: str = ""
    calls: tuple[CallData, ...] = ()
    stop: StopReason = "end"
    input_tokens: int = 0
    output_tokens: int = 0
    model: str = ""
    provider_data: str = "{}"
    """JSON text of the mapping the provider adapter asked to have echoed back."""


class ToolsData(_Strict):
    kind: Literal["tools"] = "tools"
    results: tuple[ResultData, ...]


MessageData: TypeAlias = Annotated[
    UserData | ModelTurnData | ToolsData, Field(discriminator="kind")
]


class RunHeader(_Strict):
    """The first record of a run: what it was asked, with what."""

    kind: Literal["run"] = "run"
    prompt: str
    history: tuple[MessageData, ...] = ()
    model: str = ""
    instructions: str | None = None
    tools: tuple[str, ...] = ()
    fingerprint: str = ""
    """A hash of the tools' names and schemas, to tell a resume whether they changed."""


class TurnRecord(_Strict):
    """A model response, recorded before any of its calls may write."""

    kind: Literal["turn"] = "turn"
    turn: int
    attempt: int = 0
    message: ModelTurnData


class StartedRecord(_Strict):
    """A call's body is about to start (durable first when it writes and is not idempotent)."""

    kind: Literal["started"] = "started"
    turn: int
    attempt: int = 0
    call_id: str
    tool: str
    arguments: str = "{}"
    writes: bool
    """Whether the call may change something (a declared write, or nothing declared)."""
    idempotent: bool = False


class FinishedRecord(_Strict):
    kind: Literal["finished"] = "finished"
    turn: int
    attempt: int = 0
    result: ResultData


class TurnEnded(_Strict):
    """Every call of the turn has its result."""

    kind: Literal["turn_ended"] = "turn_ended"
    turn: int
    attempt: int = 0
    stats: dict[str, Any] = Field(default_factory=dict)


class PausedRecord(_Strict):
    """The run stopped to wait for a person: `pending` need a decision, `waiting` follow them."""

    kind: Literal["paused"] = "paused"
    turn: int
    attempt: int = 0
    pending: tuple[str, ...]
    waiting: tuple[str, ...] = ()


class ApprovalRecord(_Strict):
    kind: Literal["approval"] = "approval"
    turn: int
    call_id: str
    approved: bool


class EndRecord(_Strict):
    """The run ended: answered, paused, or stopped by an error (`status`)."""

    kind: Literal["end"] = "end"
    status: Literal["finished", "paused", "failed"]
    output: str | None = None
    error: str | None = None


Record: TypeAlias = Annotated[
    RunHeader
    | TurnRecord
    | StartedRecord
    | FinishedRecord
    | TurnEnded
    | PausedRecord
    | ApprovalRecord
    | EndRecord,
    Field(discriminator="kind"),
]
_RECORD: TypeAdapter[Record] = TypeAdapter(Record)


def encode(record: Record) -> str:
    """The record as JSON text.

    What a model wrote may hold lone surrogates (an SDK's lenient parser lets them through),
    which no JSON encoder writes: they are replaced (U+FFFD), as they are in the next request.
    """
    try:
        return record.model_dump_json()
    except pydantic_core.PydanticSerializationError:
        safe = json_safe(record.model_dump())
        return type(record).model_validate(safe).model_dump_json()


def decode(text: str | bytes, *, run_id: str, seq: int) -> Record:
    """The record from its JSON text, or `JournalCorrupt` saying what is wrong with it."""
    try:
        return _RECORD.validate_json(text)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "the record"
        raise JournalCorrupt(
            f"run {run_id!r}, record {seq}: {where}: {first['msg']} ({exc.error_count()} "
            "problem(s)); the journal was changed or damaged outside volley"
        ) from None


# -- from neutral values --------------------------------------------------------------------


def _json_text(value: Any) -> str | None:
    """`value` as JSON text, or `None` if it cannot be written or read back (too deep, odd)."""
    try:
        text = pydantic_core.to_json(value, inf_nan_mode="null", bytes_mode="base64").decode()
    except (ValueError, TypeError, RecursionError, pydantic_core.PydanticSerializationError):
        return None
    if len(text) > MAX_VALUE_CHARS:
        return None
    try:
        pydantic_core.from_json(text)  # what cannot be read back is not worth keeping
    except ValueError:
        return None
    return text


def from_call(call: ToolCall) -> CallData:
    if isinstance(call.arguments, str):
        return CallData(id=call.id, name=call.name, arguments=call.arguments, raw=True)
    return CallData(id=call.id, name=call.name, arguments=_json_text(dict(call.arguments)) or "{}")


def from_turn(turn: ModelTurn) -> ModelTurnData:
    return ModelTurnData(
        text=turn.text,
        calls=tuple(from_call(call) for call in turn.calls),
        stop=turn.stop,
        input_tokens=turn.usage.input_tokens,
        output_tokens=turn.usage.output_tokens,
        model=turn.model,
        provider_data=_json_text(dict(turn.provider_data)) or "{}",
    )


def _from_part(part: Part) -> PartData:
    if isinstance(part, str):
        return PartData(text=part)
    media: Literal["image", "audio"] = "image" if isinstance(part, Image) else "audio"
    return PartData(media=media, data=part.base64, media_type=part.media_type)


def from_result(result: ToolResult) -> ResultData:
    value = None if result.value is None or result.is_error else _json_text(result.value)
    return ResultData(
        call_id=result.call_id,
        name=result.name,
        content=result.content,
        is_error=result.is_error,
        error_kind=result.error_kind,
        value=value,
        started_at=result.started_at,
        ended_at=result.ended_at,
        attempts=result.attempts,
        duplicate_of=result.duplicate_of,
        parts=tuple(_from_part(part) for part in result.parts),
        hedges=result.hedges,
    )


def from_message(message: Message) -> UserData | ModelTurnData | ToolsData:
    if isinstance(message, UserPrompt):
        return UserData(text=message.text)
    if isinstance(message, ModelTurn):
        return from_turn(message)
    return ToolsData(results=tuple(from_result(r) for r in message.results))


# -- back to neutral values -----------------------------------------------------------------


def _parse(text: str, what: str) -> Any:
    try:
        return pydantic_core.from_json(text)
    except ValueError as exc:
        raise JournalCorrupt(f"{what} is not readable JSON: {exc}") from None


def to_call(data: CallData) -> ToolCall:
    if data.raw:
        return ToolCall(data.id, data.name, data.arguments)
    arguments = _parse(data.arguments, f"the arguments of call {data.id!r}")
    if not isinstance(arguments, dict):
        raise JournalCorrupt(f"the arguments of call {data.id!r} are not an object")
    return ToolCall(data.id, data.name, arguments)


def to_turn(data: ModelTurnData) -> ModelTurn:
    provider_data = _parse(data.provider_data, "a model response's provider data")
    if not isinstance(provider_data, Mapping):
        raise JournalCorrupt("a model response's provider data is not an object")
    return ModelTurn(
        text=data.text,
        calls=tuple(to_call(call) for call in data.calls),
        stop=data.stop,
        usage=Usage(data.input_tokens, data.output_tokens),
        model=data.model,
        provider_data=provider_data,
    )


def _to_part(data: PartData) -> Part:
    if data.media is None:
        return data.text or ""
    try:
        raw = base64.b64decode(data.data, validate=True)
    except ValueError:
        raise JournalCorrupt("a result's media is not valid base64") from None
    return Image(raw, data.media_type) if data.media == "image" else Audio(raw, data.media_type)


def to_result(data: ResultData) -> ToolResult:
    value = None if data.value is None else _parse(data.value, f"the value of {data.call_id!r}")
    return ToolResult(
        call_id=data.call_id,
        name=data.name,
        content=data.content,
        value=value,
        is_error=data.is_error,
        error_kind=data.error_kind,
        started_at=data.started_at,
        ended_at=data.ended_at,
        attempts=data.attempts,
        duplicate_of=data.duplicate_of,
        parts=tuple(_to_part(part) for part in data.parts),
        hedges=data.hedges,
    )


def to_messages(history: tuple[UserData | ModelTurnData | ToolsData, ...]) -> list[Message]:
    messages: list[Message] = []
    for item in history:
        if isinstance(item, UserData):
            messages.append(UserPrompt(item.text))
        elif isinstance(item, ModelTurnData):
            messages.append(to_turn(item))
        else:
            messages.append(ToolReturns(tuple(to_result(r) for r in item.results)))
    return messages
