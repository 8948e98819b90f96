"""Tool names a provider accepts, mapped reversibly.

Providers restrict tool names (`^[a-zA-Z0-9_-]{1,64}$` for Anthropic and OpenAI), but real tool
sets carry names like `spotify.play`. Each request maps every name it sends and maps the names in
the response back, so the rest of volley only ever sees the tool's own name.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable

__all__ = ["ToolNames"]

_ALLOWED = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_DISALLOWED = re.compile(r"[^a-zA-Z0-9_-]")
_MAX = 64


class ToolNames:
    """A two-way map between tool names and names the provider accepts, unique within a request."""

    def __init__(self, names: Iterable[str]) -> None:
        self._to_wire: dict[str, str] = {}
        self._from_wire: dict[str, str] = {}
        for name in names:
            self._add(name)

    def _add(self, name: str) -> None:
        wire = name if _ALLOWED.match(name) else _DISALLOWED.sub("_", name)[:_MAX] or "tool"
        if wire in self._from_wire and self._from_wire[wire] != name:
            digest = hashlib.sha1(name.encode()).hexdigest()[:8]
            wire = f"{wire[: _MAX - 9]}_{digest}"
        self._to_wire[name] = wire
        self._from_wire[wire] = name

    def to_wire(self, name: str) -> str:
        """The name to send (a name not in the toolbox is sent as it is)."""
        return self._to_wire.get(name, name)

    def from_wire(self, wire: str) -> str:
        """The tool's own name for a name the model wrote (unknown names pass through)."""
        return self._from_wire.get(wire, wire)
