"""The embedded journal: one SQLite file (or memory), written by one thread per process.

Every statement runs on the journal's own thread with its own connection, so the event loop
never blocks on the disk and one transaction can carry many runs' records (group commit). WAL
mode; `synchronous=FULL` by default (a commit survives a power loss), `NORMAL` as a choice (a
commit survives the process dying, not the machine). Several processes may share the file:
each transaction takes SQLite's write lock first (`BEGIN IMMEDIATE`), so claiming a run is one
atomic step across them.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import Future
from typing import Any, Literal, TypeVar, cast

from ._base import (
    LEASE_SECONDS,
    Journal,
    JournalError,
    RunExists,
    RunInfo,
    RunStatus,
    StoredRecord,
    check_text,
    lease_is_free,
    new_owner,
)

__all__ = ["SQLiteJournal"]

T = TypeVar("T")

SCHEMA = """
CREATE TABLE IF NOT EXISTS volley_runs (
    run_id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    prompt TEXT NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    owner TEXT,
    lease_until REAL,
    output TEXT,
    error TEXT
);
CREATE TABLE IF NOT EXISTS volley_records (
    run_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    at REAL NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (run_id, seq)
);
"""

_RUN_COLUMNS = "run_id, status, prompt, created_at, updated_at, owner, lease_until, output, error"

Op = Callable[[sqlite3.Connection], Any]


def _info(row: tuple[Any, ...], records: int = 0) -> RunInfo:
    run_id, status, prompt, created, updated, owner, lease_until, output, error = row
    return RunInfo(
        run_id, status, prompt, created, updated, owner, lease_until, output, error, records
    )


class SQLiteJournal(Journal):
    """A journal in one SQLite file (`":memory:"`: in this process only, gone when closed).

    Args:
        path: the database file.
        synchronous: `"FULL"` (a commit survives a power loss) or `"NORMAL"` (it survives
            the process being killed, not the machine losing power; several times faster).
    """

    def __init__(self, path: str, *, synchronous: Literal["FULL", "NORMAL"] = "FULL") -> None:
        if synchronous not in ("FULL", "NORMAL"):
            raise ValueError("synchronous must be 'FULL' or 'NORMAL'")
        self.path = path
        self.synchronous = synchronous
        self.url = f"sqlite:///{path}"
        self.owner = new_owner()
        self.commits = 0
        self._cond = threading.Condition()
        self._rows: list[tuple[str, int, float, str]] = []
        self._ops: list[tuple[Op, Future[Any]]] = []
        self._seq: dict[str, int] = {}
        self._thread: threading.Thread | None = None
        self._closing = False
        self._broken: BaseException | None = None

    # -- the writer thread --------------------------------------------------------------------

    async def open(self) -> None:
        if self._thread is not None:
            return
        ready: Future[None] = Future()
        self._closing = False
        self._thread = threading.Thread(
            target=self._write_loop, args=(ready,), name="volley-journal", daemon=True
        )
        self._thread.start()
        await asyncio.wrap_future(ready)

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA busy_timeout = 30000")
        if self.path != ":memory:":
            conn.execute("PRAGMA journal_mode = WAL")
        conn.execute(f"PRAGMA synchronous = {self.synchronous}")
        conn.executescript(SCHEMA)
        return conn

    def _write_loop(self, ready: Future[None]) -> None:
        try:
            conn = self._connect()
        except BaseException as exc:
            self._thread = None
            ready.set_exception(JournalError(f"cannot open the journal {self.path}: {exc}"))
            return
        ready.set_result(None)
        try:
            while True:
                with self._cond:
                    while not self._ops and not self._closing:
                        self._cond.wait()
                    ops, self._ops = self._ops, []
                    rows, self._rows = self._rows, []
                    closing = self._closing
                if ops or rows:
                    self._commit(conn, rows, ops)
                if closing:
                    with self._cond:
                        if not self._ops and not self._rows:
                            return
        finally:
            conn.close()

    def _commit(
        self, conn: sqlite3.Connection, rows: list[tuple[str, int, float, str]], ops: list[Any]
    ) -> None:
        if self._broken is not None:  # committing records after lost ones would leave gaps
            for _, future in ops:
                future.set_exception(self._broken)
            return
        outcomes: list[tuple[Future[Any], Any, BaseException | None]] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
            if rows:
                conn.executemany("INSERT INTO volley_records VALUES (?, ?, ?, ?)", rows)
            for op, future in ops:
                conn.execute("SAVEPOINT op")
                try:
                    outcomes.append((future, op(conn), None))
                    conn.execute("RELEASE op")
                except Exception as exc:  # this op's own failure: the others go on
                    conn.execute("ROLLBACK TO op")
                    conn.execute("RELEASE op")
                    outcomes.append((future, None, exc))
            conn.execute("COMMIT")
            self.commits += 1
        except Exception as exc:  # the disk, a damaged file: nothing of this commit holds
            if conn.in_transaction:
                conn.rollback()
            broken = JournalError(f"the journal {self.path} could not commit: {exc}")
            if rows:  # records are lost: the runs cannot be trusted to resume from here on
                self._broken = broken
            for _, future in ops:
                if not future.done():
                    future.set_exception(broken)
            return
        for future, value, error in outcomes:
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(value)

    def _submit(self, op: Op) -> Future[Any]:
        if self._broken is not None:
            raise self._broken
        if self._thread is None:
            raise JournalError("the journal is not open: use `async with journal` or open()")
        future: Future[Any] = Future()
        with self._cond:
            self._ops.append((op, future))
            self._cond.notify()
        return future

    async def _do(self, op: Callable[[sqlite3.Connection], T]) -> T:
        if self._thread is None:
            await self.open()
        return cast(T, await asyncio.wrap_future(self._submit(op)))

    async def aclose(self) -> None:
        thread = self._thread
        if thread is None:
            return
        with self._cond:
            self._closing = True
            self._cond.notify()
        await asyncio.to_thread(thread.join)
        self._thread = None
        self._seq.clear()

    # -- runs ---------------------------------------------------------------------------------

    async def begin(self, run_id: str, prompt: str, header: str) -> None:
        for what, text in (("the run id", run_id), ("the prompt", prompt), ("the header", header)):
            check_text(what, text)
        owner, now = self.owner, time.time()

        def op(conn: sqlite3.Connection) -> RunInfo | None:
            row = conn.execute(
                f"SELECT {_RUN_COLUMNS} FROM volley_runs WHERE run_id = ?", (run_id,)
            ).fetchone()
            if row is not None:
                return _info(row)
            conn.execute(
                "INSERT INTO volley_runs VALUES (?, 'running', ?, ?, ?, ?, ?, NULL, NULL)",
                (run_id, prompt, now, now, owner, now + LEASE_SECONDS),
            )
            conn.execute("INSERT INTO volley_records VALUES (?, 0, ?, ?)", (run_id, now, header))
            return None

        existing = await self._do(op)
        if existing is not None:
            raise RunExists(existing)
        self._seq[run_id] = 1

    async def claim(self, run_id: str) -> RunInfo:
        owner, now = self.owner, time.time()

        def op(conn: sqlite3.Connection) -> tuple[RunInfo | None, bool, int]:
            row = conn.execute(
                f"SELECT {_RUN_COLUMNS} FROM volley_runs WHERE run_id = ?", (run_id,)
            ).fetchone()
            if row is None:
                return None, False, 0
            info = _info(row)
            if not lease_is_free(info.owner, info.lease_until, owner, now):
                return info, False, 0
            conn.execute(
                "UPDATE volley_runs SET owner = ?, lease_until = ?, status = 'running', "
                "updated_at = ? WHERE run_id = ?",
                (owner, now + LEASE_SECONDS, now, run_id),
            )
            (count,) = conn.execute(
                "SELECT COALESCE(MAX(seq) + 1, 0) FROM volley_records WHERE run_id = ?",
                (run_id,),
            ).fetchone()
            return info, True, count

        return self._claimed(run_id, *await self._do(op))

    def append(self, run_id: str, data: str, *, durable: bool) -> Awaitable[None]:
        seq = self._next_record(run_id, data)
        row = (run_id, seq, time.time(), data)
        if not durable:
            with self._cond:
                self._rows.append(row)
            return _DONE
        with self._cond:
            self._rows.append(row)
        return self._do(_nothing)

    async def flush(self) -> None:
        with self._cond:
            waiting = bool(self._rows)
        if waiting:
            await self._do(_nothing)

    async def renew(self, run_id: str) -> None:
        owner, now = self.owner, time.time()

        def op(conn: sqlite3.Connection) -> None:
            conn.execute(
                "UPDATE volley_runs SET lease_until = ? WHERE run_id = ? AND owner = ?",
                (now + LEASE_SECONDS, run_id, owner),
            )

        await self._do(op)

    async def end(
        self, run_id: str, status: RunStatus, *, output: str | None, error: str | None
    ) -> None:
        check_text("the output", output)
        check_text("the error", error)
        owner, now = self.owner, time.time()

        def op(conn: sqlite3.Connection) -> None:
            conn.execute(
                "UPDATE volley_runs SET status = ?, output = ?, error = ?, updated_at = ?, "
                "owner = NULL, lease_until = NULL WHERE run_id = ? AND owner = ?",
                (status, output, error, now, run_id, owner),
            )

        try:
            await self._do(op)
        finally:
            self._seq.pop(run_id, None)

    # -- reading ------------------------------------------------------------------------------

    async def info(self, run_id: str) -> RunInfo | None:
        def op(conn: sqlite3.Connection) -> RunInfo | None:
            row = conn.execute(
                f"SELECT {_RUN_COLUMNS}, (SELECT COUNT(*) FROM volley_records r "
                "WHERE r.run_id = volley_runs.run_id) FROM volley_runs WHERE run_id = ?",
                (run_id,),
            ).fetchone()
            return None if row is None else _info(row[:-1], row[-1])

        return await self._do(op)

    async def records(self, run_id: str) -> list[StoredRecord]:
        def op(conn: sqlite3.Connection) -> list[StoredRecord]:
            rows = conn.execute(
                "SELECT seq, at, data FROM volley_records WHERE run_id = ? ORDER BY seq",
                (run_id,),
            ).fetchall()
            return [StoredRecord(*row) for row in rows]

        return await self._do(op)

    async def runs(self, *, status: RunStatus | None = None, limit: int = 100) -> list[RunInfo]:
        where = "WHERE status = ?" if status is not None else ""
        params: tuple[Any, ...] = (status, limit) if status is not None else (limit,)

        def op(conn: sqlite3.Connection) -> list[RunInfo]:
            rows = conn.execute(
                f"SELECT {_RUN_COLUMNS}, (SELECT COUNT(*) FROM volley_records r "
                f"WHERE r.run_id = volley_runs.run_id) FROM volley_runs {where} "
                "ORDER BY updated_at DESC LIMIT ?",
                params,
            ).fetchall()
            return [_info(row[:-1], row[-1]) for row in rows]

        return await self._do(op)


def _nothing(conn: sqlite3.Connection) -> None:
    return None


class _Done:
    """An awaitable that is already complete (a record that need not wait for the disk)."""

    def __await__(self) -> Any:
        return
        yield  # pragma: no cover


_DONE = _Done()
