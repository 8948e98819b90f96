"""What a tool may answer besides text: images and audio, and an answer worded by the tool.

A model reads a result as text, but most providers also take media in a tool result (a
screenshot, a chart, a page scan). A tool returns an `Image` (or a list mixing text and media,
or an `Output` that also carries a value for Python code); each provider adapter sends the media
in its own format, and where a format cannot carry them the model is told what was left out.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any, TypeAlias

__all__ = [
    "Audio",
    "Image",
    "Media",
    "Output",
    "Part",
    "ToolError",
    "describe_media",
    "media_parts",
]


@dataclass(frozen=True, slots=True)
class Image:
    """An image for the model to look at, as bytes (PNG, JPEG, GIF or WebP)."""

    data: bytes
    """The image file's bytes."""
    media_type: str = "image/png"
    """Its type: `image/png`, `image/jpeg`, `image/gif` or `image/webp`."""

    @property
    def base64(self) -> str:
        """The bytes as base64 text, as every wire format carries them."""
        return base64.b64encode(self.data).decode("ascii")

    @property
    def data_url(self) -> str:
        """A `data:` URL of the image, as OpenAI's formats take it."""
        return f"data:{self.media_type};base64,{self.base64}"


@dataclass(frozen=True, slots=True)
class Audio:
    """A sound for the model to hear, as bytes (e.g. `audio/wav`); few providers take it."""

    data: bytes
    """The audio file's bytes."""
    media_type: str = "audio/wav"
    """Its type, e.g. `audio/wav` or `audio/mpeg`."""

    @property
    def base64(self) -> str:
        """The bytes as base64 text, as every wire format carries them."""
        return base64.b64encode(self.data).decode("ascii")


Media: TypeAlias = Image | Audio
Part: TypeAlias = str | Image | Audio
"""One piece of a result, in the order the model should read it."""

_MEDIA = (Image, Audio)


@dataclass(frozen=True, slots=True)
class Output:
    """A tool's answer when the model should read something other than the value itself.

    `parts` is what the model reads (text and media, in order); `value` is what Python code gets
    as `ToolResult.value`.
    """

    parts: tuple[Part, ...]
    """What the model reads: text, `Image` and `Audio`, in order."""
    value: Any = None
    """What Python code gets as `ToolResult.value`."""

    def __post_init__(self) -> None:
        if not isinstance(self.parts, tuple):
            object.__setattr__(self, "parts", tuple(self.parts))
        for part in self.parts:
            if not isinstance(part, str | Image | Audio):
                raise TypeError(
                    f"an Output's parts are text, Image or Audio, not {type(part).__name__}"
                )


class ToolError(Exception):
    """Raised by a tool to fail with exactly this message for the model (no exception name).

    For failures the tool itself understands ("no such file: a.txt"), where the model should
    read the tool's words and not a Python traceback's.
    """


def media_parts(value: Any) -> tuple[Part, ...] | None:
    """The parts of a value that holds media, or `None` for every other value (nearly all)."""
    kind = type(value)
    if kind is Output:
        return value.parts  # type: ignore[no-any-return]
    if kind is Image or kind is Audio:
        return (value,)
    if (kind is list or kind is tuple) and any(type(item) in _MEDIA for item in value):
        parts: list[Part] = []
        for item in value:
            if isinstance(item, str | Image | Audio):
                parts.append(item)
            else:
                raise TypeError(f"a result mixing media holds text, Image or Audio, not {item!r}")
        return tuple(parts)
    return None


def describe_media(media: Media) -> str:
    """What stands for `media` in the text of a result (and where media cannot be sent)."""
    kind = "image" if isinstance(media, Image) else "audio"
    size = len(media.data)
    amount = f"{size:,} bytes" if size < 10_000 else f"{size / 1024:,.0f} KB"
    return f"[{kind}: {media.media_type}, {amount}]"
