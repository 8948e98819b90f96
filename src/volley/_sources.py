"""Tools that live elsewhere (an MCP server): known only once connected, and they may change."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from ._tool import Tool

__all__ = ["ToolSource"]


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
