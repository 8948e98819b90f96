"""Tools that live elsewhere (an MCP server): known only once connected, and they may change."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

from ._errors import ConfigurationError
from ._tool import Tool
from ._toolbox import Toolbox

__all__ = ["SourcedTools", "ToolSource"]


@runtime_checkable
class ToolSource(Protocol):
    """Where an `Agent` gets tools it cannot know in advance.

    The agent opens each source on first use (or on `async with agent`), lists its tools at the
    start of every run, lists them again before a turn when `tools_changed` says so, and closes
    it with the agent. `volley.mcp.MCPServer` is one.
    """

    name: str
    """Names the source in errors (two sources offering the same tool name, say)."""

    @property
    def tools_changed(self) -> bool:
        """Whether the tools may differ from the last listing."""
        ...

    async def open(self) -> None:
        """Connect, if not connected yet; concurrent callers share one connection."""
        ...

    async def list_tools(self) -> list[Tool[..., Any]]:
        """The source's tools, ready for an executor."""
        ...

    async def aclose(self) -> None:
        """Disconnect; calls after this fail with a clear error."""
        ...


class SourcedTools:
    """An agent's own tools and its sources' tools, as one toolbox, listed afresh where needed."""

    def __init__(self, own: Toolbox, sources: Sequence[ToolSource]) -> None:
        self.own = own
        self.sources = tuple(sources)
        self._listings: dict[int, list[Tool[..., Any]]] = {}

    def forget(self) -> None:
        """Drop the listings (the sources were closed)."""
        self._listings.clear()

    async def current(self, previous: Toolbox | None) -> Toolbox:
        """The local tools and each source's, listed afresh where needed.

        Every source is listed at the start of a run (`previous` is `None`); between turns,
        only a source that says its tools changed.
        """
        if not self.sources:
            return self.own
        stale = [s for s in self.sources if previous is None or s.tools_changed]
        if not stale:
            assert previous is not None
            return previous
        listed = await asyncio.gather(*(source.list_tools() for source in stale))
        for source, tools in zip(stale, listed, strict=True):
            self._listings[id(source)] = tools
        toolbox = Toolbox(self.own)
        owners = dict.fromkeys(self.own.names, "the agent's own tools")
        for source in self.sources:
            for tool in self._listings[id(source)]:
                if tool.name in owners:
                    raise ConfigurationError(
                        f"two tools are named {tool.name!r}: {owners[tool.name]} and "
                        f"{source.name!r} both offer one; give a server a prefix "
                        f"(MCPServer(..., prefix='{source.name}_'))"
                    )
                owners[tool.name] = repr(source.name)
                toolbox.add(tool)
        return toolbox
