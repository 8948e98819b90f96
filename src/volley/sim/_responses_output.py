"""What a Responses ``function_call_output`` may hold besides a string: text, images and files.

Its ``output`` is a string or a list of ``input_text``, ``input_image`` and ``input_file`` items
(no audio). An image is a URL or a file id; a data URL must be base64 of a PNG, JPEG, WebP or GIF
(its type named in the URL) of at most 50 MB, and its bytes must be an image: the API answers
"The image data you provided does not represent a valid image" otherwise. Remote URLs and files
are taken unread.
"""

from __future__ import annotations

import re
from typing import Any, NoReturn

from .._parts import Image, Part
from ._media import Tally, decode, image_type
from ._openai import invalid_type, missing
from ._wire import WireError

__all__ = ["output_parts"]

IMAGE_TYPES = ("image/png", "image/jpeg", "image/webp", "image/gif")
MAX_IMAGE = 50 * 1024 * 1024
"""The most base64 characters an image may take (the API's limit on a request's images)."""
DETAILS = (None, "low", "high", "auto", "original")
DATA_URL = re.compile(r"data:([^;,]*);base64,(.*)", re.DOTALL)


def output_parts(output: list[Any], i: int, tally: Tally) -> tuple[Part, ...]:
    """The text and decoded images of the list ``output`` of item ``i``, checked."""
    parts: list[Part] = []
    for k, item in enumerate(output):
        where = f"input[{i}].output[{k}]"
        if not isinstance(item, dict):
            invalid_type(where, "object")
        kind = item.get("type")
        if kind == "input_text":
            text = item.get("text")
            if not isinstance(text, str):
                missing(f"{where}.text")
            parts.append(text)
        elif kind == "input_image":
            image = _image(item, where, tally)
            if image is not None:
                parts.append(image)
        elif kind != "input_file":
            raise WireError(
                f"Invalid value: {kind!r}. Supported values are: 'input_text', 'input_image', "
                "and 'input_file'.",
                param=f"{where}.type",
                code="invalid_value",
            )
    return tuple(parts)


def _image(item: dict[str, Any], where: str, tally: Tally) -> Image | None:
    if item.get("detail") not in DETAILS:
        raise WireError(
            f"Invalid value: {item['detail']!r}. Supported values are: 'low', 'high', 'auto', "
            "and 'original'.",
            param=f"{where}.detail",
            code="invalid_value",
        )
    url = item.get("image_url")
    if url is None:
        if isinstance(item.get("file_id"), str):
            return None
        missing(f"{where}.image_url")
    if not isinstance(url, str):
        invalid_type(f"{where}.image_url", "string")
    if not url.startswith("data:"):
        return None  # fetched by the API: nothing the simulator can look at
    found = DATA_URL.fullmatch(url)
    if found is None:
        _bad_url(where, "a value with an invalid format")
    media_type, data = found.groups()
    if media_type not in IMAGE_TYPES:
        _bad_url(where, f"unsupported MIME type {media_type!r}")
    if len(data) > MAX_IMAGE:
        _bad_url(where, f"an image of {len(data)} base64 characters, over the limit of {MAX_IMAGE}")
    raw = decode(data)
    if raw is None:
        _bad_url(where, "an invalid base64 string")
    if image_type(raw) is None:
        raise WireError(
            "The image data you provided does not represent a valid image. Please check your "
            "input and try again with one of the supported image formats: ['image/jpeg', "
            "'image/png', 'image/gif', 'image/webp'].",
            param=f"{where}.image_url",
            code="invalid_image_format",
        )
    tally.add(data, raw)
    return Image(raw, media_type)


def _bad_url(where: str, got: str) -> NoReturn:
    raise WireError(
        f"Invalid '{where}.image_url'. Expected a base64-encoded data URL with an image MIME type "
        f"(e.g. 'data:image/png;base64,aW1nIGJ5dGVzIGhlcmU='), but got {got}.",
        param=f"{where}.image_url",
        code="invalid_value",
    )
