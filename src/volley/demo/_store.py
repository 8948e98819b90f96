"""The demo's records: a SQLite database in a temporary file, written by the record tools.

Each operation opens its own connection and closes it before returning. The write tools are
sync, so they run in volley's thread pool (and the naive baseline calls them on the event loop):
a `sqlite3` connection must not be shared across threads, and a connection per operation is
cheap next to the tools' network latency and leaves nothing open when the demo ends.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

__all__ = ["RecordExists", "RecordState", "RecordStore"]


@dataclass(frozen=True, slots=True)
class RecordState:
    """A record as the database holds it."""

    id: str
    title: str
    status: str


class RecordExists(ValueError):
    """A record with that id is already there."""


class RecordStore:
    """Records by id in the SQLite file at `path` (created, with its table, if missing)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.operations = 0
        """Operations run (one connection each): proof that the tools really used the database."""
        self._lock = threading.Lock()
        with self._connect() as db:
            db.execute(
                "CREATE TABLE IF NOT EXISTS records "
                "(id TEXT PRIMARY KEY, title TEXT NOT NULL, status TEXT NOT NULL)"
            )

    def insert(self, record_id: str, title: str, status: str = "draft") -> RecordState:
        """Create a record.

        Raises:
            RecordExists: the id is taken.
        """
        with self._connect() as db:
            try:
                db.execute(
                    "INSERT INTO records (id, title, status) VALUES (?, ?, ?)",
                    (record_id, title, status),
                )
            except sqlite3.IntegrityError:
                raise RecordExists(f"record {record_id} already exists") from None
        return RecordState(record_id, title, status)

    def update(self, record_id: str, status: str) -> RecordState:
        """Set a record's status.

        Raises:
            LookupError: there is no such record (yet).
        """
        with self._connect() as db:
            cursor = db.execute("UPDATE records SET status = ? WHERE id = ?", (status, record_id))
            if cursor.rowcount == 0:
                raise LookupError(f"no record {record_id}")
            row = db.execute("SELECT id, title, status FROM records WHERE id = ?", (record_id,))
            return RecordState(*row.fetchone())

    def get(self, record_id: str) -> RecordState | None:
        """The record as stored now, or `None`."""
        with self._connect() as db:
            row = db.execute(
                "SELECT id, title, status FROM records WHERE id = ?", (record_id,)
            ).fetchone()
        return RecordState(*row) if row else None

    def delete(self, record_id: str) -> None:
        """Remove a record, so that a scenario can start from nothing."""
        with self._connect() as db:
            db.execute("DELETE FROM records WHERE id = ?", (record_id,))

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        """A fresh connection, committed and closed on the way out (rolled back on an error)."""
        with self._lock:
            self.operations += 1
        with contextlib.closing(sqlite3.connect(self.path, timeout=5.0)) as db, db:
            yield db
