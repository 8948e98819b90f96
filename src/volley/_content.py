"""A tool's return value as the text a model reads."""

from __future__ import annotations

from typing import Any

import pydantic_core

__all__ = ["DEFAULT_MAX_CHARS", "UnserializableResult", "cap", "render"]

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
        return pydantic_core.to_json(value).decode()
    except pydantic_core.PydanticSerializationError as exc:
        raise UnserializableResult(str(exc)) from None


def cap(text: str, limit: int) -> str:
    """Cut `text` to `limit` characters, saying so, so a model knows it did not see everything."""
    if len(text) <= limit:
        return text
    return (
        f"{text[:limit]}\n[output cut: {len(text):,} characters in all, the first {limit:,} shown]"
    )
