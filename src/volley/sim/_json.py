"""JSON out of the simulator, with room for a value that must go out exactly as written.

A scenario's ``arguments_text`` is sent verbatim, even where a wire format puts the arguments as a
JSON value rather than a string (Anthropic's ``input``, Gemini's ``args``): the text is spliced
into the body unparsed, so that a client meets ``NaN``, nesting 10,000 deep or a truncated object
exactly as a broken model (or server) would send them. The rest of the body is ordinary compact
JSON.
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass

__all__ = ["RawJSON", "dumps"]


@dataclass(frozen=True)
class RawJSON:
    """A value to splice into a body as it is: ``text`` need not be JSON at all."""

    text: str


def dumps(value: object) -> str:
    """Compact JSON of ``value``, each `RawJSON` in it replaced by its text.

    Each raw value is first written as a string holding a marker with a fresh random nonce, so no
    string of the body can be mistaken for one; the markers are then replaced in one pass.
    """
    raws: list[str] = []
    nonce = secrets.token_hex(8)

    def splice(obj: object) -> str:
        if not isinstance(obj, RawJSON):
            raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")
        raws.append(obj.text)
        return f"raw-json-{nonce}-{len(raws) - 1}"

    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=splice)
    if not raws:
        return text
    marker = re.compile(f'"raw-json-{nonce}-(\\d+)"')
    return marker.sub(lambda m: raws[int(m.group(1))], text)
