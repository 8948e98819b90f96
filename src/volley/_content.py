"""A tool's return value as the text a model reads, always valid to send.

Whatever a tool returns must not make the next request unencodable: `NaN` becomes `null` (as
JSON has it), and a lone surrogate (which UTF-8 cannot encode, so no SDK can send it) becomes
U+FFFD, the replacement character.
"""

from __future__ import annotations

import json
import math
from typing import Any

import pydantic_core

from ._arguments import check_value
from ._parts import Part, describe_media

__all__ = [
    "DEFAULT_MAX_CHARS",
    "UnserializableResult",
    "cap",
    "cap_parts",
    "json_safe",
    "render",
    "render_parts",
    "wire_safe",
]

DEFAULT_MAX_CHARS = 100_000


class UnserializableResult(TypeError):
    """The value cannot be turned into JSON text."""


def render(value: Any) -> str:
    """Strings pass through; anything else becomes JSON (models, dataclasses, dates...)."""
    if isinstance(value, str):
        return value
    if value is None:
        return "null"
    try:
        return pydantic_core.to_json(value, inf_nan_mode="null").decode()
    except pydantic_core.PydanticSerializationError as exc:
        if "surrogates not allowed" not in str(exc):
            raise UnserializableResult(str(exc)) from None
    try:  # a string inside it cannot be encoded: the stdlib writes it, then it is replaced
        return wire_safe(json.dumps(value, ensure_ascii=False, default=_jsonable))
    except (TypeError, ValueError, RecursionError, pydantic_core.PydanticSerializationError) as exc:
        raise UnserializableResult(str(exc)) from None


def cap_parts(parts: tuple[Part, ...], limit: int) -> tuple[Part, ...]:
    """The text parts cut to `limit` characters in all, saying so, as `cap` cuts text; media kept.

    A tool that answers with an image and 5 MB of text must not send the 5 MB where a text
    answer of the same size would have been cut.
    """
    total = sum(len(part) for part in parts if isinstance(part, str))
    if total <= limit:
        return parts
    kept: list[Part] = []
    left = limit
    noted = False
    for part in parts:
        if not isinstance(part, str):
            kept.append(part)
        elif len(part) <= left:
            kept.append(part)
            left -= len(part)
        elif not noted:  # the first text that does not fit: its start, and the note
            note = f"[output cut: {total:,} characters of text in all, the first {limit:,} shown]"
            kept.append(f"{part[:left]}\n{note}")
            left, noted = 0, True
    return tuple(kept)


def render_parts(parts: tuple[Part, ...]) -> str:
    """The text of a result made of parts: its text, with each medium named where it stands."""
    return "\n".join(part if isinstance(part, str) else describe_media(part) for part in parts)


def _jsonable(value: Any) -> Any:
    return pydantic_core.to_jsonable_python(value, inf_nan_mode="null")


def wire_safe(text: str) -> str:
    """`text` with each lone surrogate replaced by U+FFFD (text that is already valid is kept)."""
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        # Surrogate pairs split into two characters are joined; lone ones are replaced.
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return text


def json_safe(value: Any) -> Any:
    """`value` as strict JSON can carry it: non-finite floats become `None`, strings `wire_safe`.

    For what a model wrote that must go back to it unchanged in spirit (its own message, echoed
    in the next request): an SDK's lenient parser lets `NaN` and lone surrogates through, and the
    request that echoes them could not be encoded. The value itself is returned when it is fine.
    """
    if check_value(value) is None:
        return value
    try:
        return _safe(value)
    except RecursionError:  # deeper than any SDK parses: nothing of it can be sent back
        return None


def _safe(value: Any) -> Any:
    if isinstance(value, str):
        return wire_safe(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {wire_safe(k) if isinstance(k, str) else k: _safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_safe(item) for item in value]
    return value


def cap(text: str, limit: int) -> str:
    """Cut `text` to `limit` characters, saying so, so a model knows it did not see everything.

    The text is made safe to send on the way (see `wire_safe`).
    """
    if len(text) <= limit and text.isascii():  # nearly every result: nothing to do
        return text
    text = wire_safe(text)
    if len(text) <= limit:
        return text
    return (
        f"{text[:limit]}\n[output cut: {len(text):,} characters in all, the first {limit:,} shown]"
    )
