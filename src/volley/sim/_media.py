"""Images and audio in requests, as the simulator decodes and counts them.

Each wire format checks its own shapes (where the media go, which types it takes, how it words a
refusal); what they share is here: base64 decoded as strictly as the APIs decode it, an image's
type read from its bytes, and token counting that charges a medium what a model charges for it
rather than for its base64 text.

A medium costs ``85 + one token per kilobyte``, at most 1,600 tokens: about what the real APIs
charge for an image (a large one costs them some 1,600), and never the hundreds of thousands of
tokens its base64 text would count as words, which would slow the simulated model's first token
down as if it had read a book.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from .._parts import Audio, Image
from ..providers._media import image_type
from ._tokens import count_tokens

__all__ = ["Tally", "decode", "image_type", "media_tokens", "medium"]


def decode(text: object, *, urlsafe: bool = False) -> bytes | None:
    """The bytes of base64 ``text``, or None if it is not valid base64.

    With ``urlsafe`` (Google's APIs, whose JSON takes bytes either way), the URL-safe alphabet is
    accepted too, and the padding may be left out.
    """
    if not isinstance(text, str):
        return None
    if urlsafe:
        text = text.replace("-", "+").replace("_", "/")
        text += "=" * (-len(text) % 4)
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


def media_tokens(data: bytes) -> int:
    """What one medium costs in input tokens (see the module docstring)."""
    return min(1_600, 85 + len(data) // 1_024)


def medium(data: bytes, media_type: str) -> Image | Audio | str | None:
    """What a decoded medium is, as a part of a result: an image, audio, text, or nothing known."""
    if media_type.startswith("image/"):
        return Image(data, media_type)
    if media_type.startswith("audio/"):
        return Audio(data, media_type)
    if media_type == "text/plain":
        return data.decode("utf-8", "replace")
    return None


@dataclass
class Tally:
    """The media of one request, for its token count: their base64 text's tokens, their cost."""

    words: int = 0
    """Tokens that the media's base64 texts count as, within the request's JSON."""
    cost: int = 0
    """Tokens that the media cost as media."""

    def add(self, encoded: str, data: bytes) -> None:
        """Count one medium, sent as ``encoded`` (exactly the base64 text of the request)."""
        # As the text counts inside the request's JSON, where its first and last marks (`/`,
        # `+`, `=`) run on into the quotes and the marks around them.
        self.words += count_tokens(f':"{encoded}"}}') - count_tokens(':""}')
        self.cost += media_tokens(data)

    def adjust(self, tokens: int) -> int:
        """A request's input tokens counted over its JSON, with each medium at its own cost."""
        return tokens - self.words + self.cost
