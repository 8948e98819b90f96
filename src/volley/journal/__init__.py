"""Durable runs: every run's model responses and calls, recorded so a crash loses nothing.

```python
agent = Agent("anthropic:...", tools=[...], journal="sqlite:///runs.db")
result = await agent.run("pay the invoice", run_id="invoice-42")
result = await agent.resume("invoice-42")        # in any process, after a crash
```

`open_journal(url)` makes a store from a URL: `sqlite:///relative/path.db`,
`sqlite:////absolute/path.db` (add `?synchronous=NORMAL` to trade power-loss safety for speed),
`memory` (this process only: for approvals within one process, and tests), or
`postgresql://user@host:port/db` (needs the `postgres` extra).
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from ._base import (
    LEASE_SECONDS,
    Journal,
    JournalCorrupt,
    JournalError,
    RunExists,
    RunHeld,
    RunInfo,
    RunNotFound,
    RunStatus,
    StoredRecord,
)
from ._sqlite import SQLiteJournal

__all__ = [
    "LEASE_SECONDS",
    "Journal",
    "JournalCorrupt",
    "JournalError",
    "RunExists",
    "RunHeld",
    "RunInfo",
    "RunNotFound",
    "RunStatus",
    "SQLiteJournal",
    "StoredRecord",
    "open_journal",
]


def open_journal(url: str) -> Journal:
    """A journal store for `url` (not yet connected: it connects on first use)."""
    if url in ("memory", "sqlite://:memory:", "sqlite:///:memory:"):
        return SQLiteJournal(":memory:")
    if url.startswith("sqlite://"):
        parts = urlsplit(url)
        path = parts.path[1:] if parts.path.startswith("/") else parts.path
        if parts.netloc or not path:
            raise ValueError(
                f"a SQLite journal URL is sqlite:///relative/path.db or "
                f"sqlite:////absolute/path.db, not {url!r}"
            )
        options = parse_qs(parts.query)
        synchronous = options.pop("synchronous", ["FULL"])[-1].upper()
        if options or synchronous not in ("FULL", "NORMAL"):
            raise ValueError(f"a SQLite journal takes only ?synchronous=FULL|NORMAL, not {url!r}")
        return SQLiteJournal(path, synchronous="NORMAL" if synchronous == "NORMAL" else "FULL")
    if url.startswith(("postgresql://", "postgres://")):
        from ._postgres import PostgresJournal

        return PostgresJournal(url)
    raise ValueError(f"unknown journal {url!r}: use sqlite:///path.db, memory, or postgresql://...")
