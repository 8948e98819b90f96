"""What a LangChain tool declares to volley: the one place every LangChain-based integration reads.

`declare` writes a tool's `metadata["volley"]` (a `ToolOptions` dict); `options_of` reads it, or
the MCP annotations that LangChain's MCP clients keep in the metadata. Needs only
`langchain-core`, which both the `langchain` and the `langgraph` extras bring.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, cast

from langchain_core.tools import BaseTool
from langchain_core.tools import tool as _as_tool
from typing_extensions import Unpack

from .._tool import ToolOptions
from ._gate import declared_tool

__all__ = ["NOT_APPLIED", "declare", "options_of"]

NOT_APPLIED = {
    "timeout": "the framework runs the call (a sync tool in a thread, which a timeout cannot "
    "stop, and its errors through handle_tool_errors); time out inside the tool",
    "retries": "retries stay the framework's (LangChain's ToolRetryMiddleware, a LangGraph "
    "node's retry_policy)",
}
"""Volley options LangChain-based integrations cannot apply (`max_concurrency` they do)."""

_MCP_HINTS = frozenset(
    {
        *("read_only_hint", "destructive_hint", "idempotent_hint", "open_world_hint"),
        *("readOnlyHint", "destructiveHint", "idempotentHint", "openWorldHint"),  # mcp 1.x
    }
)


def declare(tool: BaseTool | Callable[..., Any], **options: Unpack[ToolOptions]) -> BaseTool:
    """Say what a LangChain tool touches: `options` go in `tool.metadata["volley"]`.

    A plain function is made a tool first, as `ToolNode` would. The options are checked now, so
    a misspelled one is an error here rather than a call that quietly races.
    """
    made = tool if isinstance(tool, BaseTool) else _as_tool(tool)
    declared_tool(made.name, options, not_applied=NOT_APPLIED)
    made.metadata = {**(made.metadata or {}), "volley": dict(options)}
    return made


def options_of(tool: BaseTool) -> ToolOptions | None:
    """The volley options of a LangChain tool: its `"volley"` metadata, or its MCP hints.

    MCP tools from `langchain.mcp` (metadata `mcp.tool.annotations`, server in `mcp.server`) and
    from `langchain-mcp-adapters` (the hints at the top of the metadata, no server: all such
    tools share the key `mcp:`) are read as volley's own MCP client reads them; `"volley"` options
    correct the hints.
    """
    metadata = tool.metadata or {}
    found = metadata.get("volley")
    given = cast("ToolOptions", found) if isinstance(found, dict) else None
    hints, server = _mcp_hints(metadata)
    if hints is None:
        return given
    import mcp.types as mt

    from ..mcp._convert import effects_of, scope_key

    remote = mt.Tool(
        name=tool.name,
        input_schema={"type": "object"},
        annotations=mt.ToolAnnotations.model_validate(hints),
    )
    return effects_of(remote, scope_key(server), trust_annotations=True, retries=0, override=given)


def _mcp_hints(metadata: Mapping[str, Any]) -> tuple[dict[str, Any] | None, str]:
    """The MCP annotations in a tool's metadata and its server's name (`None`: not MCP)."""
    grouped = metadata.get("mcp")
    if isinstance(grouped, Mapping):  # langchain.mcp
        tool_meta = grouped.get("tool")
        hints = tool_meta.get("annotations") if isinstance(tool_meta, Mapping) else None
        server = grouped.get("server")
        name = server.get("name") if isinstance(server, Mapping) else None
        return (dict(hints) if isinstance(hints, Mapping) else {}), str(name or "")
    flat = {key: value for key, value in metadata.items() if key in _MCP_HINTS}
    if flat or "_meta" in metadata:  # langchain-mcp-adapters
        return flat, ""
    return None, ""
