"""One live session with an MCP server, held by a task of its own.

The SDK's client lives in anyio scopes that must be closed by the task that opened them, but an
agent opens a server in one run and closes it from wherever `aclose` is called. So one task owns
the connection from start to end, and everyone else talks to it through the session, which
runs concurrent calls (a waiter per request id).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

import anyio
import httpx2
import mcp.types as mt
from mcp import Client, StdioServerParameters
from mcp.client.session import IncomingMessage
from mcp.client.streamable_http import streamable_http_client
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

__all__ = ["Connection", "Target"]

logger = logging.getLogger("volley.mcp")

Target = StdioServerParameters | str
"""How to reach a server: a command to start (stdio), or a Streamable HTTP URL."""


class Connection:
    """A session with one server, from connect to close; `client` is usable between."""

    def __init__(
        self,
        target: Target,
        *,
        headers: dict[str, str] | None,
        on_tools_changed: Callable[[], None],
    ) -> None:
        self._target = target
        self._headers = headers
        self._on_tools_changed = on_tools_changed
        self._client: Client | None = None
        self._ready: asyncio.Future[None] | None = None
        self._closing = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.lost = False
        """The server closed the connection (its process exited, its endpoint went away)."""
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def client(self) -> Client:
        """The SDK client; only between a successful `start` and `close`."""
        assert self._client is not None, "the connection is not open"
        return self._client

    async def start(self, timeout: float | None) -> None:
        """Connect and finish the handshake, or raise what stopped it."""
        loop = self._loop = asyncio.get_running_loop()
        self._ready = loop.create_future()
        self._task = loop.create_task(self._hold(), name=f"volley.mcp {self._target!r}")
        try:
            async with asyncio.timeout(timeout):
                await asyncio.wait({self._ready, self._task}, return_when=asyncio.FIRST_COMPLETED)
        except BaseException:  # too slow, or cancelled: a handshake is not waited for
            await self._abort()
            raise
        if not self._ready.done():  # the task ended before the handshake did
            error = self._task.exception() if not self._task.cancelled() else None
            await self._abort()
            raise error or ConnectionError("the connection closed during the handshake")

    async def _abort(self) -> None:
        """Stop a connection that never became ready (its process is ended by the SDK)."""
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(BaseException):
            await asyncio.shield(self._task)

    def is_current(self) -> bool:
        """Whether the connection lives on the running event loop (and so can be used)."""
        try:
            return self._loop is asyncio.get_running_loop() and not self._loop.is_closed()
        except RuntimeError:
            return False

    async def close(self) -> None:
        """End the session (and the server process, for stdio); waits for it to be down."""
        self._closing.set()
        task = self._task
        if task is None:
            return
        if not task.done():
            try:
                await asyncio.shield(task)
            except asyncio.CancelledError:
                if not task.done():
                    task.cancel()
                raise
            except Exception as exc:
                logger.debug("closing an MCP connection: %s", exc)
        elif not task.cancelled() and task.exception() is not None:
            logger.debug("the MCP connection had ended: %s", task.exception())
        self._client = None

    async def _hold(self) -> None:
        async with contextlib.AsyncExitStack() as stack:
            client = Client(self._transport(stack), message_handler=self._heard, cache=None)
            await stack.enter_async_context(client)
            self._client = client
            assert self._ready is not None
            self._ready.set_result(None)
            async with anyio.create_task_group() as tasks:
                if client.protocol_version in MODERN_PROTOCOL_VERSIONS:
                    tasks.start_soon(self._listen, client)
                await self._closing.wait()
                tasks.cancel_scope.cancel()

    def _transport(self, stack: contextlib.AsyncExitStack) -> Any:
        if isinstance(self._target, StdioServerParameters):
            return self._target
        http = httpx2.AsyncClient(headers=self._headers, timeout=httpx2.Timeout(30.0, read=300.0))
        stack.push_async_callback(http.aclose)
        return streamable_http_client(self._target, http_client=http)

    async def _heard(self, message: IncomingMessage) -> None:
        """Notifications of servers that speak the handshake-era protocol."""
        if isinstance(message, mt.ToolListChangedNotification):
            self._on_tools_changed()
        elif isinstance(message, Exception):
            logger.debug("MCP transport error: %s", message)

    async def _listen(self, client: Client) -> None:
        """Listing changes, on servers that speak the 2026 protocol (a subscription)."""
        try:
            async with client.listen(tools_list_changed=True) as events:
                async for _ in events:
                    self._on_tools_changed()
        except Exception as exc:  # not offered, or the stream dropped: listings go stale
            logger.debug("no tool-listing changes from this MCP server: %s", exc)
