"""How a trace's numbers read, the same in the terminal and in the HTML page."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

__all__ = ["arguments_summary", "arguments_text", "printable", "seconds", "tick", "tokens"]

_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]")
"""Control characters, zero-width characters, line and paragraph separators, bidi overrides."""


def printable(text: str, *, keep: str = "") -> str:
    r"""`text` with control and invisible characters shown as escapes (`\x1b`), except `keep`.

    Names, arguments and results come from a model and from tools: an escape sequence in them
    would drive the reader's terminal, and a bidirectional override would reorder what a page
    shows. Escaped, they are visible for what they are.
    """

    def escape(match: re.Match[str]) -> str:
        char = match[0]
        if char in keep:
            return char
        code = ord(char)
        return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"

    return _UNPRINTABLE.sub(escape, text)


def seconds(value: float) -> str:
    """A duration with the precision it deserves: `850 ms`, `1.52 s`, `12.3 s`, `145 s`."""
    if value == 0:
        return "0 s"
    if abs(value) < 1:
        return f"{value * 1000:.0f} ms"
    if abs(value) < 10:
        return f"{value:.2f} s"
    if abs(value) < 100:
        return f"{value:.1f} s"
    return f"{value:.0f} s"


def tick(value: float, step: float) -> str:
    """An axis label: as few decimals as the step between ticks needs."""
    if value == 0:
        return "0"
    decimals = 0
    while decimals < 6 and abs(round(step, decimals) - step) > step * 1e-6:
        decimals += 1
    return f"{value:.{decimals}f}s"


def tokens(count: int) -> str:
    """A token count with thousands separators."""
    return f"{count:,}"


def arguments_text(arguments: Mapping[str, Any] | str, *, indent: int | None = None) -> str:
    """Arguments as JSON text (or the text the model wrote)."""
    if isinstance(arguments, str):
        return arguments
    try:
        return json.dumps(arguments, ensure_ascii=False, indent=indent, default=repr)
    except (TypeError, ValueError):  # keys that are not strings, circular references
        return repr(arguments)


def arguments_summary(arguments: Mapping[str, Any] | str) -> str:
    """Arguments on one line, values first, for a row label: `a.py, mode=r`."""
    if isinstance(arguments, str):
        return " ".join(arguments.split())
    parts: list[str] = []
    for key, value in arguments.items():
        text = " ".join(str(value if isinstance(value, str) else _json(value)).split())
        parts.append(text if not parts else f"{key}={text}")
    return ", ".join(parts)


def _json(value: Any) -> str:
    try:
        return json.dumps(value, ensure_ascii=False, default=repr)
    except ValueError:  # a circular structure
        return repr(value)
