"""Starting the tests' own MCP servers (`tests/mcp_servers/`), over stdio or Streamable HTTP."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from volley.mcp import MCPServer

ROOT = Path(__file__).resolve().parent.parent


def notes_stdio(log: Path | None = None, **options: Any) -> MCPServer:
    env = {"NOTES_LOG": str(log)} if log is not None else {}
    options.setdefault("name", "notes")
    return MCPServer.stdio(
        sys.executable, ["-m", "tests.mcp_servers.notes", "stdio"], env=env, cwd=ROOT, **options
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def http_server(
    module: str, log: Path | None = None
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """The server `module` on a free loopback port; yields its URL once it accepts connections."""
    port = free_port()
    env = {"NOTES_LOG": str(log)} if log is not None else {}
    process = subprocess.Popen(
        [sys.executable, "-m", module, "http", str(port)],
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                break
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the MCP server {module} did not start")
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}/mcp", process
    finally:
        process.kill()
        process.wait()


def server_log(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line]
