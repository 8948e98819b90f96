"""Everything the demo's tools touch, started together and removed together.

The HTTP service runs on uvicorn at a free port of 127.0.0.1 (as the simulated model does, and
with the same quiet server class); the SQLite file and the notes live in one temporary folder.
Leaving the `async with` stops the server, closes the HTTP client and deletes the folder, so the
demo leaves no server, socket or file behind, whatever happened inside.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from types import TracebackType

import httpx2

from ..sim._server import Loopback
from ._files import NoteFolder
from ._report import BackendUsage
from ._service import DemoService
from ._store import RecordStore

__all__ = ["Backends"]


class Backends:
    """The HTTP service, the records database and the notes folder, for one demo.

    Use as `async with Backends(time_scale) as backends:`; the attributes below exist inside.
    """

    def __init__(self, time_scale: float) -> None:
        self.service = DemoService(time_scale=time_scale)
        self.workdir: Path | None = None
        self.store: RecordStore
        self.notes: NoteFolder
        self.http: httpx2.AsyncClient
        """The tools' client: one connection pool for all calls, never a proxy (loopback)."""
        self._loopback = Loopback(self.service.app, name="the demo's HTTP service")
        self._port = 0

    @property
    def base_url(self) -> str:
        """`http://127.0.0.1:PORT` of the HTTP service."""
        return f"http://127.0.0.1:{self._port}"

    def usage(self) -> BackendUsage:
        """What the tools did to each backend so far."""
        return BackendUsage(
            http_url=self.base_url,
            http_requests=dict(self.service.requests),
            files_read=self.notes.reads,
            database_operations=self.store.operations,
            workdir=self.workdir or Path(),
        )

    async def __aenter__(self) -> Backends:
        self.workdir = Path(tempfile.mkdtemp(prefix="volley-demo-"))
        try:
            self.store = RecordStore(self.workdir / "records.sqlite3")
            self.notes = NoteFolder(self.workdir)
            self._port = await self._loopback.start()
        except BaseException:
            await self._stop()
            raise
        self.http = httpx2.AsyncClient(base_url=self.base_url, trust_env=False, timeout=10.0)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.http.aclose()
        await self._stop()

    async def _stop(self) -> None:
        await self._loopback.stop()
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
