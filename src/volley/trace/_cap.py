"""What a trace keeps of long texts: enough to see what happened, never a whole file read.

Both ways of making a trace (recording a run, or converting a `RunResult`) cap through here, so
the two agree to the character.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

__all__ = ["CONTENT_LIMIT", "cap", "capped_arguments"]

CONTENT_LIMIT = 4000
"""Characters kept of a result, an argument text or a message by default."""


def cap(text: str, limit: int) -> str:
    """`text`, cut to `limit` characters with a note of how much was left out."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… [{len(text) - limit} more characters]"


def capped_arguments(arguments: Mapping[str, Any] | str, limit: int) -> Mapping[str, Any] | str:
    """Arguments as the trace keeps them: plain JSON values, or capped JSON text if too long.

    Going through JSON here (not only when writing) makes a trace built in memory equal to the
    same trace read back from a file: tuples become lists, odd objects their `repr`.
    """
    if isinstance(arguments, str):
        return cap(arguments, limit)
    try:
        text = json.dumps(dict(arguments), ensure_ascii=False, default=repr)
    except (TypeError, ValueError):  # keys that are not strings, circular references
        return cap(repr(dict(arguments)), limit)
    if len(text) > limit:
        return cap(text, limit)
    value: dict[str, Any] = json.loads(text)
    return value
