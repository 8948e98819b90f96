"""What an Anthropic ``tool_result`` may hold: text and images, checked as the API checks them.

A ``tool_result``'s content is a string or a list of ``text`` and ``image`` blocks (also
``document``, ``search_result`` and ``tool_reference``, taken unread): text blocks must hold
more than whitespace, and a base64 image must be JPEG, PNG, GIF or WebP, valid base64 of at most
5 MB (as text), and its bytes what its ``media_type`` says. Audio has no block.
"""

from __future__ import annotations

from typing import Any

from .._content import render_parts
from .._parts import Image, Part
from ._media import Tally, decode, image_type
from ._wire import WireError

__all__ = ["block_part", "result_content"]


def result_content(block: dict[str, Any], where: str, tally: Tally) -> tuple[str, tuple[Part, ...]]:
    """A ``tool_result``'s text, and its blocks as parts when it sent a list of them."""
    content = block.get("content", "")
    if isinstance(content, str):
        return content, ()
    if not isinstance(content, list):
        raise WireError(f"{where}.content: Input should be a valid string or a list of blocks")
    parts: list[Part] = []
    for k, inner in enumerate(content):
        at = f"{where}.content.{k}"
        kind = inner.get("type") if isinstance(inner, dict) else None
        if kind not in RESULT_BLOCKS:
            raise WireError(
                f"{at}: Input tag {kind!r} found using 'type' does not match any of the expected "
                "tags: 'text', 'image', 'search_result', 'document', 'tool_reference'"
            )
        part = block_part(inner, at, tally)
        if part is not None:
            parts.append(part)
    return render_parts(tuple(parts)), tuple(parts)


RESULT_BLOCKS = ("text", "image", "search_result", "document", "tool_reference")
IMAGE_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp")
MAX_IMAGE = 5 * 1024 * 1024
"""The most base64 characters an image may take ("image exceeds 5 MB maximum")."""


def block_part(block: dict[str, Any], at: str, tally: Tally) -> Part | None:
    """A text or image block as a part (None for the other kinds), checked as the API does."""
    if block["type"] == "text":
        text = block.get("text")
        if not isinstance(text, str):
            raise WireError(f"{at}.text: Input should be a valid string")
        if not text:
            raise WireError(f"{at}.text: text content blocks must be non-empty")
        if not text.strip():
            raise WireError(f"{at}.text: text content blocks must contain non-whitespace text")
        return text
    if block["type"] != "image":
        return None
    source = block.get("source")
    kind = source.get("type") if isinstance(source, dict) else None
    if kind in ("url", "file"):
        return None  # fetched (or looked up) by the API: nothing the simulator can decode
    if kind != "base64" or not isinstance(source, dict):
        raise WireError(
            f"{at}.image.source: Input tag {kind!r} found using 'type' does not match any of "
            "the expected tags: 'base64', 'url', 'file'"
        )
    media_type, data = source.get("media_type"), source.get("data")
    if media_type not in IMAGE_TYPES:
        raise WireError(
            f"{at}.image.source.base64.media_type: Input should be 'image/jpeg', 'image/png', "
            "'image/gif' or 'image/webp'"
        )
    if not isinstance(data, str):
        raise WireError(f"{at}.image.source.base64.data: Input should be a valid string")
    if len(data) > MAX_IMAGE:
        raise WireError(
            f"{at}.image.source.base64: image exceeds 5 MB maximum: {len(data)} bytes > "
            f"{MAX_IMAGE} bytes"
        )
    raw = decode(data)
    if raw is None:
        raise WireError(f"{at}.image.source.base64.data: The image data is not valid base64.")
    actual = image_type(raw)
    if actual is None:
        raise WireError(f"{at}.image.source.base64.data: Could not process image")
    if actual != media_type:
        raise WireError(
            f"{at}.image.source.base64.data: Image does not match the provided media type "
            f"{media_type}"
        )
    tally.add(data, raw)
    return Image(raw, media_type)
