"""An MCP server for the tests, on the SDK's server API: notes in memory, annotated tools.

Run as `python -m tests.mcp_servers.notes stdio` or `... http PORT`. With `NOTES_LOG` set, each
call appends `{"event": "start"|"end"|"cancelled", "tool", "key", "at"}` lines to that file, so a
test sees from the server's side what overlapped.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

import anyio
from mcp.server.mcpserver import Context, Image, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations

server = MCPServer("notes")
notes: dict[str, str] = {}
READ = ToolAnnotations(read_only_hint=True)
WRITE = ToolAnnotations(read_only_hint=False, destructive_hint=False)
IDEMPOTENT = ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=True)
_log = os.environ.get("NOTES_LOG")
# A 1x1 PNG.
PIXEL = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360f8ffff3f0005fe02fea7d6a4a40000000049454e44ae426082"
)


def log(event: str, tool: str, key: str = "") -> None:
    if _log:
        with open(_log, "a") as file:
            file.write(
                json.dumps({"event": event, "tool": tool, "key": key, "at": time.monotonic()})
            )
            file.write("\n")


async def logged(tool: str, key: str, seconds: float) -> None:
    log("start", tool, key)
    try:
        await anyio.sleep(seconds)
    except BaseException:
        log("cancelled", tool, key)
        raise
    log("end", tool, key)


@server.tool(annotations=READ)
async def read_note(key: str, delay: float = 0.0) -> str:
    """Read a note."""
    await logged("read_note", key, delay)
    return notes.get(key, "")


@server.tool(annotations=WRITE)
async def write_note(key: str, text: str, delay: float = 0.0) -> str:
    """Write a note."""
    log("start", "write_note", key)
    await anyio.sleep(delay)
    notes[key] = text
    log("end", "write_note", key)
    return f"wrote {key}"


@server.tool(annotations=IDEMPOTENT)
async def set_flag(key: str, delay: float = 0.0) -> str:
    """Set a flag (twice is once)."""
    await logged("set_flag", key, delay)
    notes[key] = "flag"
    return "set"


@server.tool()
async def unannotated(delay: float = 0.0) -> str:
    """A tool that says nothing about itself."""
    await logged("unannotated", "", delay)
    return "done"


@server.tool(annotations=READ)
async def count_up(steps: int, ctx: Context) -> str:
    """Count, telling how far it is."""
    for step in range(1, steps + 1):
        await ctx.report_progress(step, steps, f"step {step}")
        await anyio.sleep(0.01)
    return f"counted {steps}"


@server.tool(annotations=READ)
async def hang(key: str = "hang") -> str:
    """Never answer."""
    await logged("hang", key, 3600)
    return "never"


@server.tool(annotations=READ, structured_output=False)
def picture() -> list[Any]:
    """A picture and a caption."""
    return ["a pixel:", Image(data=PIXEL, format="png")]


@server.tool(annotations=READ)
def fail(message: str = "the disk is full") -> str:
    """Fail with a message."""
    raise ToolError(message)


@server.tool(annotations=READ)
def weather(city: str) -> dict[str, Any]:
    """Structured weather."""
    return {"city": city, "celsius": 21.5}


@server.tool(annotations=WRITE)
def die() -> str:
    """The process exits mid-call."""
    os._exit(3)


@server.tool(annotations=WRITE)
async def grow(ctx: Context) -> str:
    """Add a tool, and tell the client the listing changed."""
    if "fresh" not in {tool.name for tool in await server.list_tools()}:
        server.add_tool(lambda: "fresh!", name="fresh", description="A tool that came later.")
    await ctx.notify_tools_changed()  # to clients of the 2026 protocol, which subscribe
    await ctx.request_context.session.send_tool_list_changed()  # to the handshake-era ones
    return "grown"


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "http":
        server.run("streamable-http", host="127.0.0.1", port=int(sys.argv[2]))
    else:
        server.run("stdio")


if __name__ == "__main__":
    main()
