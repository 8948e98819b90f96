"""Media in a Gemini turn of function responses: inside a response, and after the responses.

A ``functionResponse`` may hold ``parts`` of ``inlineData`` (PNG, JPEG or WebP images, PDF, plain
text) or ``fileData``, as Gemini 3 takes them; the turn that carries the responses may hold other
parts after them (text, and ``inlineData`` of any type Gemini reads: images, audio, video, PDF),
which is where audio goes, since a function response cannot hold it. Inline data is base64 in
either alphabet (the SDK writes the URL-safe one), of at most 20 MB, and an image's bytes must be
an image ("Unable to process input image"). File URIs are taken unread.
"""

from __future__ import annotations

from typing import Any, NoReturn

from .._parts import Part
from ._media import Tally, decode, image_type, medium
from ._wire import WireError

__all__ = ["attached_parts", "response_parts"]

RESPONSE_TYPES = ("image/png", "image/jpeg", "image/webp", "application/pdf", "text/plain")
"""What a function response's inline data may be."""
INLINE_TYPES = (
    *("image/png", "image/jpeg", "image/webp", "image/heic", "image/heif"),
    *("audio/wav", "audio/mp3", "audio/aiff", "audio/aac", "audio/ogg", "audio/flac"),
    *("video/mp4", "video/mpeg", "video/mov", "video/avi", "video/webm", "video/wmv"),
    *("application/pdf", "text/plain"),
)
"""What the inline data of a part of a user turn may be."""
MAX_INLINE = 20 * 1024 * 1024
"""The most base64 characters inline data may take (beyond, the Files API is the way)."""


def response_parts(answer: dict[str, Any], where: str, tally: Tally) -> tuple[Part, ...]:
    """The media inside a function response (``where`` names it), decoded and checked."""
    parts = _get(answer, "parts")
    if parts is None:
        return ()
    if not isinstance(parts, list):
        raise WireError(f"* GenerateContentRequest.{where}.parts: expected a list")
    found: list[Part] = []
    for m, part in enumerate(parts):
        at = f"{where}.parts[{m}]"
        if not isinstance(part, dict):
            raise WireError(f"* GenerateContentRequest.{at}: expected an object")
        inline = _get(part, "inlineData")
        if inline is None:
            if _get(part, "fileData") is None:
                raise WireError(
                    f"* GenerateContentRequest.{at}: inline_data or file_data is required"
                )
            continue
        decoded = _inline(inline, f"{at}.inline_data", RESPONSE_TYPES, tally)
        if decoded is not None:
            found.append(decoded)
    return tuple(found)


def attached_parts(parts: list[dict[str, Any]], i: int, tally: Tally) -> tuple[Part, ...]:
    """The text and inline data of a turn of function responses besides the responses."""
    found: list[Part] = []
    for k, part in enumerate(parts):
        if _get(part, "functionResponse") is not None:
            continue
        text = _get(part, "text")
        if isinstance(text, str):
            found.append(text)
        inline = _get(part, "inlineData")
        if inline is not None:
            at = f"contents[{i}].parts[{k}].inline_data"
            decoded = _inline(inline, at, INLINE_TYPES, tally)
            if decoded is not None:
                found.append(decoded)
    return tuple(found)


def _inline(inline: object, at: str, allowed: tuple[str, ...], tally: Tally) -> Part | None:
    if not isinstance(inline, dict):
        raise WireError(f"* GenerateContentRequest.{at}: expected an object")
    mime, data = _get(inline, "mimeType"), inline.get("data")
    if mime not in allowed:
        raise WireError(f"* GenerateContentRequest.{at}.mime_type: Unsupported MIME type: {mime}")
    if not isinstance(data, str):
        raise WireError(f"* GenerateContentRequest.{at}.data: data is required")
    if len(data) > MAX_INLINE:
        raise WireError(f"Request payload size exceeds the limit: {MAX_INLINE} bytes.")
    raw = decode(data, urlsafe=True)
    if raw is None:
        _not_base64(at, data)
    if mime in ("image/png", "image/jpeg", "image/webp") and image_type(raw) is None:
        raise WireError(
            "Unable to process input image. Please retry or report in "
            "https://developers.generativeai.google/guide/troubleshooting"
        )
    tally.add(data, raw)
    return medium(raw, mime)


def _not_base64(at: str, data: str) -> NoReturn:
    shown = data if len(data) <= 40 else data[:40] + "..."
    raise WireError(
        f"Invalid value at '{at}.data' (TYPE_BYTES), Base64 decoding failed for \"{shown}\""
    )


def _get(value: object, camel: str) -> Any:
    """``value[camel]`` or its snake_case spelling (the SDK writes the one, the API the other)."""
    if not isinstance(value, dict):
        return None
    if camel in value:
        return value[camel]
    snake = "".join(f"_{c.lower()}" if c.isupper() else c for c in camel)
    return value.get(snake)
