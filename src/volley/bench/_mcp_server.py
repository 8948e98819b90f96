"""The MCP benchmark's server, on the SDK's own server API: annotated tools that only wait.

Run as `python -m volley.bench._mcp_server stdio` or `... http PORT` (Streamable HTTP on
127.0.0.1, at `/mcp`). Reads and the no-op declare `readOnlyHint`; `write` declares nothing
read-only, so volley runs it alone on this server, in the order it was written.
"""

from __future__ import annotations

import sys

import anyio
from mcp.server.mcpserver import MCPServer
from mcp.types import ToolAnnotations

server = MCPServer("bench", log_level="WARNING")  # no line per request on stderr
READ = ToolAnnotations(read_only_hint=True)
WRITE = ToolAnnotations(read_only_hint=False, destructive_hint=False)
notes: dict[str, str] = {}


@server.tool(annotations=READ)
async def noop(i: int = 0) -> str:
    """Answer at once (`i` tells calls apart, so that none is a duplicate of another)."""
    return "ok"


@server.tool(annotations=READ)
async def read(key: str, delay: float = 0.0) -> str:
    """Read a note, after `delay` seconds."""
    await anyio.sleep(delay)
    return notes.get(key, "")


@server.tool(annotations=WRITE)
async def write(key: str, text: str, delay: float = 0.0) -> str:
    """Write a note, after `delay` seconds."""
    await anyio.sleep(delay)
    notes[key] = text
    return f"wrote {key}"


def main(argv: list[str]) -> None:
    if len(argv) > 1 and argv[0] == "http":
        server.run("streamable-http", host="127.0.0.1", port=int(argv[1]))
    else:
        server.run("stdio")


if __name__ == "__main__":
    main(sys.argv[1:])
