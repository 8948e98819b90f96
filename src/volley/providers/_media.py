"""What a provider takes of a result's images and audio, and what it is told in their place.

Each adapter sends a result's media natively where its API takes them in a tool result, and a
short note where it does not, so that a request is never refused for a medium: an empty one, one
of a type the API does not take, or one over its size limit is described in words instead (the
model reads what was left out, and why). An image's bytes decide its type: one whose declared
type disagrees with its bytes goes out as what it is (the APIs check), and bytes that are no
image at all are described, not sent.
"""

from __future__ import annotations

from dataclasses import dataclass

from .._content import wire_safe
from .._parts import Audio, Image, Media, Part, describe_media

__all__ = ["Accepts", "encoded_size", "image_type", "note", "prepare", "texts_and_media"]

_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)
_NAMES = {"image/png": "PNG", "image/jpeg": "JPEG", "image/gif": "GIF", "image/webp": "WebP"}


def image_type(data: bytes) -> str | None:
    """The image type `data` starts like (PNG, JPEG, GIF or WebP), or `None`."""
    for signature, kind in _SIGNATURES:
        if data.startswith(signature):
            return kind
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def encoded_size(size: int) -> int:
    """Characters of the base64 text of `size` bytes."""
    return 4 * ((size + 2) // 3)


@dataclass(frozen=True, slots=True)
class Accepts:
    """What one API takes in a tool result."""

    images: tuple[str, ...]
    """The image types, e.g. `("image/png", "image/jpeg")`."""
    max_encoded: int
    """The most base64 characters one medium may take."""
    audio: tuple[str, ...] = ()
    """The audio types (none for most APIs)."""


def note(media: Media, why: str) -> str:
    """What stands in a request for a medium that is not sent: what it is, and why."""
    return f"{describe_media(media)} (not sent: {why})"


def prepare(media: Media, accepts: Accepts) -> Media | str:
    """`media` as the API takes it (an image's type read from its bytes), or a note instead."""
    if not media.data:
        return note(media, "it is empty")
    if isinstance(media, Image):
        kind = image_type(media.data)
        if kind is None:
            return note(media, "its bytes are not a PNG, JPEG, GIF or WebP image")
        if kind not in accepts.images:
            names = ", ".join(_NAMES[t] for t in accepts.images)
            return note(media, f"this API takes {names} images, not {_NAMES[kind]}")
        if kind != media.media_type:
            media = Image(media.data, kind)
    elif media.media_type not in accepts.audio:
        if not accepts.audio:
            return note(media, "this API takes no audio in tool results")
        return note(media, f"this API takes audio as {', '.join(accepts.audio)}")
    if encoded_size(len(media.data)) > accepts.max_encoded:
        limit = accepts.max_encoded / (1 << 20)
        return note(media, f"larger than the {limit:g} MB this API takes per medium")
    return media


def texts_and_media(parts: tuple[Part, ...], accepts: Accepts) -> list[str | Image | Audio]:
    """A result's parts as an API takes them, in order.

    Text is made safe to send (text that is empty or only whitespace is left out: Anthropic
    refuses such a block); each medium the API takes is kept, and each other one replaced by a
    note.
    """
    out: list[str | Image | Audio] = []
    for part in parts:
        if isinstance(part, str):
            if part.strip():
                out.append(wire_safe(part))
        else:
            out.append(prepare(part, accepts))
    return out
