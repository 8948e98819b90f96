"""The shared journal: PostgreSQL, for runs resumed on another machine or by many workers.

The same contract as the SQLite store. Each journal object has one connection and one writer
task on the event loop that uses it: whatever asks for a commit (a durable append, `flush`, a
run's change, a read) queues an op and wakes the writer, which takes every waiting record and
op at once and commits them in one transaction (one INSERT of the records, a savepoint per op):
many runs appending together cost one commit, one round trip when only records wait. Claiming
locks the run's row (`FOR UPDATE`), so two processes cannot both take it. A connection belongs
to the loop it was made on: used from a new loop (`asyncio.run` again), the journal drops it
and connects again.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeAlias, TypeVar, cast
from urllib.parse import urlsplit, urlunsplit

from .._errors import MissingExtra
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
from ._sqlite import _DONE, _RUN_COLUMNS, _info

try:
    import psycopg
    from psycopg.pq import TransactionStatus
except ImportError as exc:  # pragma: no cover - the extra is installed for the tests
    raise MissingExtra("psycopg is not installed: pip install 'volley-tools[postgres]'") from exc

__all__ = ["PostgresJournal"]

T = TypeVar("T")
Conn: TypeAlias = psycopg.AsyncConnection[tuple[Any, ...]]
Op: TypeAlias = Callable[[Conn], Awaitable[Any]]
Row: TypeAlias = tuple[str, int, float, str]
Outcome: TypeAlias = tuple[asyncio.Future[Any], Any, BaseException | None]

_TABLES = (
    """CREATE TABLE IF NOT EXISTS volley_runs (
    run_id TEXT PRIMARY KEY, status TEXT NOT NULL, prompt TEXT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL, updated_at DOUBLE PRECISION NOT NULL,
    owner TEXT, lease_until DOUBLE PRECISION, output TEXT, error TEXT)""",
    """CREATE TABLE IF NOT EXISTS volley_records (
    run_id TEXT NOT NULL, seq BIGINT NOT NULL, at DOUBLE PRECISION NOT NULL,
    data TEXT NOT NULL, PRIMARY KEY (run_id, seq))""",
)
_SCHEMA_LOCK = 0x766F6C6C6579  # "volley": concurrent CREATE TABLE IF NOT EXISTS can collide
_INSERT = (  # one statement however many records: arrays of each column
    "INSERT INTO volley_records (run_id, seq, at, data) "
    "SELECT * FROM unnest(%s::text[], %s::bigint[], %s::float8[], %s::text[])"
)
_COUNT = "(SELECT COUNT(*) FROM volley_records r WHERE r.run_id = volley_runs.run_id)"


async def _query(conn: Conn, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
    return await (await conn.execute(sql, params)).fetchall()


def _redacted(url: str) -> str:
    """The URL without its password, to name the journal in messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rpartition("@")
    user = netloc[0].partition(":")[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc[2]}"))


class PostgresJournal(Journal):
    """A journal in a PostgreSQL database (tables `volley_runs`, `volley_records`).

    Args:
        url: a libpq URL, `postgresql://user:password@host:port/database`.
    """

    def __init__(self, url: str) -> None:
        self._dsn = url
        self.url = _redacted(url)
        self.owner = new_owner()
        self.commits = 0
        self._rows: list[Row] = []
        self._ops: list[tuple[Op | None, asyncio.Future[Any]]] = []
        self._seq: dict[str, int] = {}
        self._conn: Conn | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._writer: asyncio.Task[None] | None = None
        self._broken: JournalError | None = None

    # -- the writer -----------------------------------------------------------------------------

    async def open(self) -> None:
        await self._do(None)

    async def aclose(self) -> None:
        """Commit what waits, then disconnect; raises if what waited could not be committed."""
        try:
            if self._rows and self._broken is None:
                await self._do(None)
        finally:
            if self._writer is not None and self._loop is asyncio.get_running_loop():
                await asyncio.gather(self._writer, return_exceptions=True)
            await self._disconnect()
            self._loop, self._writer = None, None
            self._seq.clear()

    async def _disconnect(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            await conn.close()  # no I/O on the loop: safe on a connection of a closed loop

    def _submit(self, op: Op | None) -> asyncio.Future[Any]:
        if self._broken is not None:
            raise self._broken
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            # Made on another loop (closed by now): its connection and waiting ops died with it.
            if self._conn is not None:
                self._conn.pgconn.finish()
                self._conn = None
            self._loop, self._writer, self._ops = loop, None, []
        future: asyncio.Future[Any] = loop.create_future()
        self._ops.append((op, future))
        if self._writer is None or self._writer.done():
            self._writer = loop.create_task(self._write_loop(), name="volley-journal")
        return future

    async def _do(self, op: Callable[[Conn], Awaitable[T]] | None) -> T:
        return cast(T, await self._submit(op))

    async def _write_loop(self) -> None:
        while self._ops:
            ops, self._ops = self._ops, []
            rows, self._rows = self._rows, []
            await self._commit(rows, ops)

    async def _connect(self) -> Conn:
        if self._conn is not None and not self._conn.closed:
            return self._conn
        try:
            conn = await psycopg.AsyncConnection.connect(self._dsn, autocommit=True)
        except psycopg.Error as exc:
            raise JournalError(f"cannot connect to the journal {self.url}: {exc}") from None
        try:
            async with conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
                for table in _TABLES:
                    await conn.execute(table)
        except psycopg.Error as exc:
            await conn.close()
            raise JournalError(f"cannot make the journal's tables in {self.url}: {exc}") from None
        self._conn = conn
        return conn

    async def _commit(
        self, rows: list[Row], ops: list[tuple[Op | None, asyncio.Future[Any]]]
    ) -> None:
        if self._broken is not None:  # committing records after lost ones would leave gaps
            _settle((future, None, self._broken) for _, future in ops)
            return
        outcomes: list[Outcome] = []
        try:
            conn = await self._connect()
        except JournalError as exc:  # nothing was tried: the records wait for the next commit
            self._rows[:0] = rows
            _settle((future, None, exc) for _, future in ops)
            return
        try:
            # One round trip for the usual commit (records only); ops need their answers.
            plain = all(op is None for op, _ in ops)
            async with conn.pipeline():
                await conn.execute("BEGIN")
                if rows:
                    await conn.execute(
                        _INSERT, [list(column) for column in zip(*rows, strict=True)]
                    )
                if plain:
                    await conn.execute("COMMIT")
            for op, future in ops:
                if op is None:
                    outcomes.append((future, None, None))
                    continue
                await conn.execute("SAVEPOINT op")
                try:
                    outcomes.append((future, await op(conn), None))
                except Exception as exc:  # this op's own failure: the others go on
                    await conn.execute("ROLLBACK TO SAVEPOINT op")
                    if isinstance(exc, psycopg.Error):
                        exc = JournalError(f"the journal {self.url}: {exc}")
                    outcomes.append((future, None, exc))
                await conn.execute("RELEASE SAVEPOINT op")
            if not plain:
                if conn.info.transaction_status != TransactionStatus.INTRANS:
                    raise JournalError("the transaction was aborted")  # COMMIT would roll back
                await conn.execute("COMMIT")
            self.commits += 1
        except asyncio.CancelledError:  # the loop is going away: let a later commit try again
            self._rows[:0] = rows
            await self._disconnect()  # rolls back unless COMMIT got there: then a later one fails
            _settle((future, None, JournalError("the commit was cancelled")) for _, future in ops)
            raise
        except Exception as exc:  # the server, the network: nothing of this commit holds
            await self._disconnect()
            broken = JournalError(f"the journal {self.url} could not commit: {exc}")
            if rows:  # records are lost: the runs cannot be trusted to resume from here on
                self._broken = broken
            _settle((future, None, broken) for _, future in ops)
            return
        _settle(outcomes)

    # -- runs -----------------------------------------------------------------------------------

    async def begin(self, run_id: str, prompt: str, header: str) -> None:
        for what, text in (("the run id", run_id), ("the prompt", prompt), ("the header", header)):
            check_text(what, text)
        owner, now = self.owner, time.time()

        async def op(conn: Conn) -> RunInfo | None:
            cur = await conn.execute(
                "INSERT INTO volley_runs VALUES (%s, 'running', %s, %s, %s, %s, %s, NULL, NULL) "
                "ON CONFLICT (run_id) DO NOTHING",
                (run_id, prompt, now, now, owner, now + LEASE_SECONDS),
            )
            if cur.rowcount == 1:
                await conn.execute(
                    "INSERT INTO volley_records VALUES (%s, 0, %s, %s)", (run_id, now, header)
                )
                return None
            rows = await _query(
                conn, f"SELECT {_RUN_COLUMNS} FROM volley_runs WHERE run_id = %s", (run_id,)
            )
            return _info(rows[0])

        existing = await self._do(op)
        if existing is not None:
            raise RunExists(existing)
        self._seq[run_id] = 1

    async def claim(self, run_id: str) -> RunInfo:
        check_text("the run id", run_id)
        owner, now = self.owner, time.time()

        async def op(conn: Conn) -> tuple[RunInfo | None, bool, int]:
            sql = f"SELECT {_RUN_COLUMNS} FROM volley_runs WHERE run_id = %s FOR UPDATE"
            rows = await _query(conn, sql, (run_id,))
            if not rows:
                return None, False, 0
            info = _info(rows[0])
            if not lease_is_free(info.owner, info.lease_until, owner, now):
                return info, False, 0
            await conn.execute(
                "UPDATE volley_runs SET owner = %s, lease_until = %s, status = 'running', "
                "updated_at = %s WHERE run_id = %s",
                (owner, now + LEASE_SECONDS, now, run_id),
            )
            sql = "SELECT COALESCE(MAX(seq) + 1, 0) FROM volley_records WHERE run_id = %s"
            ((count,),) = await _query(conn, sql, (run_id,))
            return info, True, int(count)

        return self._claimed(run_id, *await self._do(op))

    def append(self, run_id: str, data: str, *, durable: bool) -> Awaitable[None]:
        seq = self._next_record(run_id, data)
        self._rows.append((run_id, seq, time.time(), data))
        return self._submit(None) if durable else _DONE

    async def flush(self) -> None:
        if self._rows:
            await self._do(None)

    async def renew(self, run_id: str) -> None:
        owner, now = self.owner, time.time()

        async def op(conn: Conn) -> None:
            await conn.execute(
                "UPDATE volley_runs SET lease_until = %s WHERE run_id = %s AND owner = %s",
                (now + LEASE_SECONDS, run_id, owner),
            )

        await self._do(op)

    async def end(
        self, run_id: str, status: RunStatus, *, output: str | None, error: str | None
    ) -> None:
        check_text("the output", output)
        check_text("the error", error)
        owner, now = self.owner, time.time()

        async def op(conn: Conn) -> None:
            await conn.execute(
                "UPDATE volley_runs SET status = %s, output = %s, error = %s, updated_at = %s, "
                "owner = NULL, lease_until = NULL WHERE run_id = %s AND owner = %s",
                (status, output, error, now, run_id, owner),
            )

        try:
            await self._do(op)
        finally:
            self._seq.pop(run_id, None)

    # -- reading --------------------------------------------------------------------------------

    async def info(self, run_id: str) -> RunInfo | None:
        check_text("the run id", run_id)

        async def op(conn: Conn) -> RunInfo | None:
            sql = f"SELECT {_RUN_COLUMNS}, {_COUNT} FROM volley_runs WHERE run_id = %s"
            rows = await _query(conn, sql, (run_id,))
            return _info(rows[0][:-1], int(rows[0][-1])) if rows else None

        return await self._do(op)

    async def records(self, run_id: str) -> list[StoredRecord]:
        check_text("the run id", run_id)

        async def op(conn: Conn) -> list[StoredRecord]:
            sql = "SELECT seq, at, data FROM volley_records WHERE run_id = %s ORDER BY seq"
            rows = await _query(conn, sql, (run_id,))
            return [StoredRecord(int(seq), at, data) for seq, at, data in rows]

        return await self._do(op)

    async def runs(self, *, status: RunStatus | None = None, limit: int = 100) -> list[RunInfo]:
        where = "WHERE status = %s" if status is not None else ""
        params: tuple[Any, ...] = (status, limit) if status is not None else (limit,)

        async def op(conn: Conn) -> list[RunInfo]:
            sql = f"SELECT {_RUN_COLUMNS}, {_COUNT} FROM volley_runs {where} "
            rows = await _query(conn, sql + "ORDER BY updated_at DESC LIMIT %s", params)
            return [_info(row[:-1], int(row[-1])) for row in rows]

        return await self._do(op)


def _settle(outcomes: Iterable[Outcome]) -> None:
    """Give each waiting caller its op's value or error (unless it stopped waiting)."""
    for future, value, error in outcomes:
        if future.done():
            continue
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(value)
