"""The tools a model may call in a run, by name."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from ._errors import ConfigurationError
from ._tool import Tool, tool

__all__ = ["Toolbox"]


class Toolbox:
    """The tools a model may call in a run, by name."""

    def __init__(self, tools: Iterable[Tool[..., Any] | Callable[..., Any]] = ()) -> None:
        self._tools: dict[str, Tool[..., Any]] = {}
        self.get: Callable[[str], Tool[..., Any] | None] = self._tools.get
        """The tool of that name, or `None` (the dict's own `get`: every call looks its tool up)."""
        for item in tools:
            self.add(item)

    def add(self, item: Tool[..., Any] | Callable[..., Any]) -> Tool[..., Any]:
        """Add a tool (a plain function is made one with `tool`); names must be unique."""
        made = item if isinstance(item, Tool) else tool(item)
        if made.name in self._tools:
            raise ConfigurationError(f"a tool named {made.name!r} is already in the toolbox")
        self._tools[made.name] = made
        return made

    def __getitem__(self, name: str) -> Tool[..., Any]:
        return self._tools[name]

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def __iter__(self) -> Iterator[Tool[..., Any]]:
        return iter(self._tools.values())

    def __len__(self) -> int:
        return len(self._tools)

    @property
    def names(self) -> list[str]:
        """The tool names, in the order they were added."""
        return list(self._tools)
