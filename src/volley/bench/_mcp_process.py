"""Starting the MCP benchmark's server (`_mcp_server`): over stdio by `MCPServer.stdio`, or
over Streamable HTTP as a subprocess on a free loopback port.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import sys
import tempfile
import time
from pathlib import Path

import volley

__all__ = ["SERVER", "STARTUP", "HTTPServer", "server_env"]

SERVER = "volley.bench._mcp_server"
STARTUP = 60.0
"""Seconds a server process may take to start (importing the SDK is slow on a busy machine)."""


def server_env() -> dict[str, str]:
    """The server's import path: where this volley is, even when it is not installed."""
    return {"PYTHONPATH": str(Path(volley.__file__).resolve().parent.parent)}


class HTTPServer:
    """The benchmark's server over Streamable HTTP on a free loopback port, as a subprocess."""

    def __init__(self) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port: int = probe.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/mcp"
        self._errors = tempfile.TemporaryFile()  # noqa: SIM115 - closed in __aexit__
        self._process: asyncio.subprocess.Process | None = None

    async def __aenter__(self) -> HTTPServer:
        self._process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            SERVER,
            "http",
            str(self.port),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=self._errors,
            env={**os.environ, **server_env()},
        )
        return self

    async def ready(self) -> str:
        """The server's URL, once it accepts connections."""
        assert self._process is not None
        deadline = time.monotonic() + STARTUP
        while self._process.returncode is None:
            with contextlib.suppress(OSError):
                _, writer = await asyncio.open_connection("127.0.0.1", self.port)
                writer.close()
                await writer.wait_closed()
                return self.url
            if time.monotonic() > deadline:
                raise RuntimeError(f"the MCP benchmark's server did not start in {STARTUP:g} s")
            await asyncio.sleep(0.05)
        self._errors.seek(0)
        said = self._errors.read().decode(errors="replace").strip().splitlines()
        raise RuntimeError(
            f"the MCP benchmark's HTTP server exited ({self._process.returncode}): "
            f"{said[-1] if said else 'no message'}"
        )

    async def __aexit__(self, *exc_info: object) -> None:
        process, self._process = self._process, None
        try:
            if process is not None and process.returncode is None:
                process.terminate()
                try:
                    await asyncio.wait_for(process.wait(), 5)
                except TimeoutError:
                    process.kill()
                    await process.wait()
        finally:
            self._errors.close()
