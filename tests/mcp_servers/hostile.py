"""An MCP server that misbehaves in every way the protocol lets it, on the SDK's low-level API.

Run as `python -m tests.mcp_servers.hostile stdio`. With `HOSTILE_CURSOR_LOOP=1` its listing
pages forever (the last page points back at the first).
"""

from __future__ import annotations

import os
from typing import Any

import anyio
import mcp.types as mt
from mcp.server.lowlevel import Server
from mcp.server.stdio import stdio_server

READ = mt.ToolAnnotations(read_only_hint=True)
OBJECT: dict[str, Any] = {"type": "object", "properties": {}}


def tool(name: str, schema: dict[str, Any] | None = None, **extra: Any) -> mt.Tool:
    return mt.Tool(name=name, input_schema=schema or OBJECT, annotations=READ, **extra)


TOOLS = [
    tool("echo", {"type": "object", "properties": {"text": {"type": "string"}}}),
    tool("echo"),  # the same name twice
    tool("broken_schema", {"type": "object", "properties": {"x": {"type": "no-such-type"}}}),
    tool("huge"),
    tool("bad_image"),
    tool("many_blocks"),
    tool("silent_error"),
    tool("resources"),
    tool("deep"),
    tool("no_description", description=None),
]
PAGE = 3


async def list_tools(ctx: Any, params: mt.PaginatedRequestParams | None) -> mt.ListToolsResult:
    start = int(params.cursor) if params is not None and params.cursor else 0
    page = TOOLS[start : start + PAGE]
    following: str | None = str(start + PAGE) if start + PAGE < len(TOOLS) else None
    if following is None and os.environ.get("HOSTILE_CURSOR_LOOP"):
        following = "0"
    return mt.ListToolsResult(tools=page, next_cursor=following)


def text(value: str) -> mt.TextContent:
    return mt.TextContent(type="text", text=value)


async def call_tool(ctx: Any, params: mt.CallToolRequestParams) -> mt.CallToolResult:
    name = params.name
    if name == "echo":
        said = (params.arguments or {}).get("text", "")
        return mt.CallToolResult(content=[text(str(said))])
    if name == "huge":
        return mt.CallToolResult(content=[text("x" * 5_000_000)])
    if name == "bad_image":
        image = mt.ImageContent(type="image", data="!!! not base64 !!!", mime_type="image/png")
        return mt.CallToolResult(content=[text("look:"), image])
    if name == "many_blocks":
        return mt.CallToolResult(content=[text(str(i)) for i in range(10_000)])
    if name == "silent_error":
        return mt.CallToolResult(content=[], is_error=True)
    if name == "resources":
        link = mt.ResourceLink(type="resource_link", uri="file:///a.txt", name="a.txt")
        inline = mt.EmbeddedResource(
            type="resource",
            resource=mt.TextResourceContents(uri="file:///b.txt", text="bee"),
        )
        blob = mt.EmbeddedResource(
            type="resource",
            resource=mt.BlobResourceContents(
                uri="file:///c.bin", blob="AAAA", mime_type="application/octet-stream"
            ),
        )
        return mt.CallToolResult(content=[link, inline, blob])
    if name == "deep":
        nested: Any = "bottom"
        for _ in range(5_000):
            nested = [nested]
        return mt.CallToolResult(content=[text("deep")], structured_content={"v": nested})
    return mt.CallToolResult(content=[text(f"{name} ran")])


server = Server("hostile", on_list_tools=list_tools, on_call_tool=call_tool)


async def main() -> None:
    async with stdio_server() as (read, write):
        await server.run(read, write, server.create_initialization_options())


if __name__ == "__main__":
    anyio.run(main)
