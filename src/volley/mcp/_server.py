"""An MCP server as a source of volley tools: one shared session, hints made into scheduling."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypedDict, Unpack
from urllib.parse import urlsplit

import mcp.types as mt
from mcp import MCPError, StdioServerParameters
from mcp.shared.dispatcher import ProgressFnT
from mcp_types import CONNECTION_CLOSED
from pydantic import ValidationError

from .._errors import ConfigurationError, VolleyError
from .._parts import ToolError
from .._progress import reporter
from .._tool import Tool, ToolOptions
from ._connection import Connection, Target
from ._convert import effects_of, result_value, scope_key, unknown_overrides

__all__ = ["MCPConnectionError", "MCPServer", "ServerLost", "ServerOptions"]

logger = logging.getLogger("volley.mcp")

MAX_PAGES = 1_000
"""Pages of a tool listing read before a server that never stops paging is given up on."""


class MCPConnectionError(VolleyError, ConnectionError):
    """A server could not be started or reached, or did not finish the handshake in time."""


class ServerLost(ConnectionError):
    """The server closed the connection during a call (a `ConnectionError`: reads may retry)."""


class ServerOptions(TypedDict, total=False):
    """Options every `MCPServer` takes, whichever way it is reached."""

    name: str | None
    """Names the server in its scope key (`mcp:<name>`), logs and errors; default: from the
    command or the URL."""
    prefix: str
    """Put before each tool's name, so two servers may offer tools of the same name."""
    tools: Mapping[str, ToolOptions] | None
    """Per tool (by its name on the server), options that refine or correct its hints."""
    trust_annotations: bool
    """Take the server's hints; `False` treats every tool as a write (for untrusted servers)."""
    retries: int
    """Attempts after the first for read-only and idempotent tools whose call failed on the
    connection (the server is restarted in between, if it may be)."""
    restarts: int
    """How many times a server whose connection was lost is started again, on next use."""
    connect_timeout: float | None
    """Seconds to start or reach the server and finish the handshake."""


class MCPServer:
    """The tools of one MCP server, scheduled by what they say they do.

    Reads of a server overlap; anything else it offers runs alone on that server, in the
    model's order, while other servers and local tools go on. Make one with `MCPServer.stdio`
    or `MCPServer.http`, then use it as `async with server:` and `await server.list_tools()`,
    or hand it to an `Agent` among its tools (the agent opens and closes it). One session
    serves every call, concurrently.
    """

    def __init__(
        self,
        target: Target,
        *,
        headers: Mapping[str, str] | None = None,
        **options: Unpack[ServerOptions],
    ) -> None:
        retries, restarts = options.get("retries", 0), options.get("restarts", 1)
        if retries < 0 or restarts < 0:
            raise ConfigurationError("retries and restarts must be >= 0")
        timeout = options.get("connect_timeout", 30.0)
        if timeout is not None and not timeout > 0:
            raise ConfigurationError("connect_timeout must be > 0 seconds, or None")
        self.target = target
        self.name: str = options.get("name") or _default_name(target)
        self.prefix = options.get("prefix", "")
        self.overrides: dict[str, ToolOptions] = dict(options.get("tools") or {})
        self.trust_annotations = options.get("trust_annotations", True)
        self.retries = retries
        self.restarts = restarts
        self.connect_timeout = timeout
        self.annotations: dict[str, mt.ToolAnnotations | None] = {}
        """Each listed tool's hints as the server sent them, by volley tool name."""
        self._headers = dict(headers) if headers else None
        self._connection: Connection | None = None
        self._opening: tuple[asyncio.AbstractEventLoop, asyncio.Lock] | None = None
        self._changed = True
        self._restarted = 0
        self._closed = False

    @classmethod
    def stdio(
        cls,
        command: str,
        args: Sequence[str] = (),
        *,
        env: Mapping[str, str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
        **options: Unpack[ServerOptions],
    ) -> MCPServer:
        """A server started as a subprocess, spoken to over its stdin and stdout.

        `env` is added to a minimal default environment (the SDK's), not to this process's.
        """
        params = StdioServerParameters(
            command=command,
            args=list(args),
            env=dict(env) if env is not None else None,
            cwd=Path(cwd) if cwd is not None else None,
        )
        return cls(params, **options)

    @classmethod
    def http(
        cls,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        **options: Unpack[ServerOptions],
    ) -> MCPServer:
        """A server reached over Streamable HTTP (`headers` go with every request)."""
        if urlsplit(url).scheme not in ("http", "https"):
            raise ConfigurationError(f"an MCP server URL starts with http:// or https://: {url!r}")
        return cls(url, headers=headers, **options)

    def __repr__(self) -> str:
        return f"MCPServer({self.name!r})"

    @property
    def scope(self) -> str:
        """The resource key its tools hold: shared to read, alone to write."""
        return scope_key(self.name)

    @property
    def tools_changed(self) -> bool:
        """Whether the server's tools may differ from the last listing."""
        return self._changed

    async def __aenter__(self) -> MCPServer:
        await self.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def open(self) -> None:
        """Start or reach the server, unless it is connected already."""
        await self._live()

    async def aclose(self) -> None:
        """Disconnect (a stdio server's process ends); the server may be opened again."""
        async with self._lock():
            connection, self._connection = self._connection, None
            self._changed = True
        if connection is not None:
            await connection.close()

    async def list_tools(self) -> list[Tool[..., Any]]:
        """The server's tools, every page of the listing, as volley tools.

        A tool whose input schema volley cannot use is left out, with a warning.
        """
        connection = await self._live()
        listed: list[mt.Tool] = []
        cursor: str | None = None
        seen: set[str] = set()
        self._changed = False
        async with asyncio.timeout(self.connect_timeout):
            for _ in range(MAX_PAGES):
                page = await connection.client.list_tools(cursor=cursor)
                listed.extend(page.tools)
                cursor = page.next_cursor
                if cursor is None:
                    break
                if cursor in seen:
                    logger.warning("MCP server %r repeats a listing cursor; stopped", self.name)
                    break
                seen.add(cursor)
        return self._tools_of(listed)

    def _tools_of(self, listed: list[mt.Tool]) -> list[Tool[..., Any]]:
        tools: list[Tool[..., Any]] = []
        names: set[str] = set()
        self.annotations = {}
        for remote in listed:
            if remote.name in names:
                said = "MCP server %r lists %r twice; the first is used"
                logger.warning(said, self.name, remote.name)
                continue
            names.add(remote.name)
            try:
                tools.append(self._tool(remote))
            except (ConfigurationError, ValueError, TypeError, RecursionError) as exc:
                logger.warning(
                    "MCP server %r: tool %r is left out, volley cannot use it: %s",
                    self.name,
                    remote.name,
                    exc,
                )
        unknown_overrides(self.overrides, names, self.name)
        return tools

    def _tool(self, remote: mt.Tool) -> Tool[..., Any]:
        options = effects_of(
            remote,
            self.scope,
            trust_annotations=self.trust_annotations,
            retries=self.retries,
            override=self.overrides.get(remote.name),
        )
        writes = "writes" in options or options.get("effects") == "write"
        remote_name = remote.name

        async def call(**arguments: Any) -> Any:
            return await self.call(remote_name, arguments, writes=writes)

        name = self.prefix + remote.name
        tool = Tool.from_schema(
            name,
            remote.description or remote.title or "",
            remote.input_schema,
            call,
            **options,
        )
        self.annotations[name] = remote.annotations
        return tool

    async def call(self, name: str, arguments: dict[str, Any], *, writes: bool = True) -> Any:
        """Call the tool `name` (its name on the server) and return what a tool body returns.

        Raises:
            ToolError: the tool failed, in the server's words, or the server refused the call.
            ServerLost: the connection closed during the call; for a write, whether it took
                effect is unknown, and the message says so.
        """
        connection = await self._live()
        report = reporter()
        on_progress = None if report is None else _forward(report)
        try:
            result = await connection.client.call_tool(
                name, arguments, progress_callback=on_progress
            )
        except MCPError as exc:
            if exc.code == CONNECTION_CLOSED:
                connection.lost = True
                unknown = "; whether it took effect is unknown" if writes else ""
                raise ServerLost(
                    f"the MCP server {self.name!r} closed the connection during the call{unknown}"
                ) from None
            raise ToolError(f"the MCP server {self.name!r} refused the call: {exc}") from None
        except ValidationError as exc:
            raise ToolError(
                f"the MCP server {self.name!r} answered with a result that is not valid MCP: "
                f"{exc.error_count()} problem(s), first: {exc.errors()[0]['msg']}"
            ) from None
        return result_value(result, self.name)

    def _lock(self) -> asyncio.Lock:
        """The lock that makes concurrent callers share one connect, on this event loop."""
        loop = asyncio.get_running_loop()
        if self._opening is None or self._opening[0] is not loop:
            self._opening = (loop, asyncio.Lock())
        return self._opening[1]

    async def _live(self) -> Connection:
        """The open connection: made on first use, made again (a restart) once it is lost.

        A connection made on another event loop (`asyncio.run` again, `Agent.run_sync` twice)
        ended with that loop: a new one is made, which is no restart.
        """
        connection = self._connection
        if connection is not None and not connection.lost and connection.is_current():
            return connection
        async with self._lock():
            connection = self._connection
            if connection is not None and not connection.is_current():
                self._connection = connection = None  # its loop, and with it the session, is gone
            if connection is not None and not connection.lost:
                return connection
            if connection is not None:  # lost
                if self._restarted >= self.restarts:
                    raise ServerLost(
                        f"the MCP server {self.name!r} closed its connection and was already "
                        f"restarted {self._restarted} time(s); it is not started again"
                    )
                self._restarted += 1
                logger.warning(
                    "MCP server %r closed its connection; starting it again (%d of %d)",
                    self.name,
                    self._restarted,
                    self.restarts,
                )
                self._connection = None
                await connection.close()
            self._connection = await self._connect()
            self._changed = True
            return self._connection

    async def _connect(self) -> Connection:
        connection = Connection(self.target, headers=self._headers, on_tools_changed=self._heard)
        try:
            await connection.start(self.connect_timeout)
        except TimeoutError:
            raise MCPConnectionError(
                f"the MCP server {self.name!r} did not finish its handshake within "
                f"{self.connect_timeout:g} s"
            ) from None
        except Exception as exc:
            raise MCPConnectionError(
                f"could not connect to the MCP server {self.name!r} ({_describe(self.target)}): "
                f"{_reason(exc)}"
            ) from exc
        return connection

    def _heard(self) -> None:
        self._changed = True


def _forward(report: Callable[[float, float | None, str | None], None]) -> ProgressFnT:
    """The server's progress notifications, to whoever listens to the call."""

    async def forward(progress: float, total: float | None, message: str | None) -> None:
        report(progress, total, message)

    return forward


def _default_name(target: Target) -> str:
    if isinstance(target, StdioServerParameters):
        base = Path(target.command).name
        if base.startswith(("python", "node", "uvx", "npx", "bun", "deno")):
            # `node pkg/dist/index.js`, `npx @scope/server`, `python -m pkg`: name the package
            script = next((a for a in target.args if not a.startswith("-")), None)
            if script is not None:
                return _package_of(script)
        return base
    parts = urlsplit(target)
    return f"{parts.hostname or 'server'}{f':{parts.port}' if parts.port else ''}"


def _package_of(script: str) -> str:
    """What names the server a script belongs to, rather than the script's file name."""
    path = Path(script)
    if "node_modules" in path.parts:  # .../node_modules/@scope/name/dist/index.js
        after = path.parts[path.parts.index("node_modules") + 1 :]
        if after:
            return after[1] if after[0].startswith("@") and len(after) > 1 else after[0]
    if script.startswith("@") and script.count("/") == 1:  # an npm package: @scope/name@1.2
        return script.split("/")[1].split("@")[0] or script
    if "/" not in script and "\\" not in script:  # a module or a package, not a path
        return script.split("@")[0].rsplit("/", 1)[-1] or script
    generic = {"index", "main", "__main__", "server", "cli", "app"}
    folders = {"dist", "build", "lib", "src", "bin", "out"}
    if path.stem not in generic:
        return path.stem
    for folder in reversed(path.parent.parts):
        if folder not in folders and folder not in ("/", "."):
            return folder
    return path.stem


def _describe(target: Target) -> str:
    if isinstance(target, StdioServerParameters):
        return " ".join([target.command, *target.args])
    return target


def _reason(exc: BaseException) -> str:
    """The innermost cause of a failed connect, which task groups wrap in exception groups."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return f"{type(exc).__name__}: {exc}"
