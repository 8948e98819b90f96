"""The journal store contract, proved the same on every store: SQLite file, SQLite memory, and
PostgreSQL (a throwaway server, `tests/_postgres.py`).

What is proved: runs and records behave alike everywhere (begin, claim, append, flush, end,
info, records, runs); records come back in order, numbered, exactly those committed; a record
appended without `durable` is invisible to another journal object (another process's view)
until a durable append or a flush, and visible after; a run is held against others until it
ends, its lease runs out, or its holder's process dies (a real child killed with SIGKILL);
claiming is atomic; many runs appending at once share commits and lose nothing; any
interleaving of appends reads back exactly (hypothesis); hostile text (1 MB, NUL, lone
surrogates) is stored faithfully or refused alone, never taking other runs' records down with
it; a writer killed mid-stream leaves a journal that reads back whole prefixes, without error.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import signal
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests._hyp import examples
from tests._postgres import postgres_server, postgres_url  # noqa: F401  (fixtures)
from volley.journal import (
    Journal,
    JournalError,
    RunExists,
    RunHeld,
    RunNotFound,
    _base,
    _sqlite,
    open_journal,
)

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Store:
    """A store to test: `open()` gives a journal object on it; `shared`: two objects share it."""

    kind: str
    url: str
    shared: bool

    def open(self) -> Journal:
        return open_journal(self.url)


def _store(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    if kind == "postgres":
        return Store(kind, request.getfixturevalue("postgres_url"), True)
    if kind == "sqlite-memory":
        return Store(kind, "memory", False)
    return Store(kind, f"sqlite:///{tmp_path / 'journal.db'}", True)


@pytest.fixture(params=["sqlite-file", "sqlite-memory", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    return _store(request.param, request, tmp_path)


@pytest.fixture(params=["sqlite-file", "postgres"])
def shared_store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    """The stores another journal object (another process) can see."""
    return _store(request.param, request, tmp_path)


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def data_of(records: list[Any]) -> list[str]:
    return [record.data for record in records]


def set_lease(monkeypatch: pytest.MonkeyPatch, seconds: float) -> None:
    """Every store reads `LEASE_SECONDS` from its own module: set it in each."""
    from volley.journal import _postgres

    for module in (_base, _sqlite, _postgres):
        monkeypatch.setattr(module, "LEASE_SECONDS", seconds)


# -- the contract, on each store ------------------------------------------------------------------


def test_a_run_from_begin_to_end(store: Store) -> None:
    async def main() -> None:
        async with store.open() as journal:
            await journal.begin("r1", "the prompt", "header")
            journal.append("r1", "one", durable=False)
            await journal.append("r1", "two", durable=True)
            journal.append("r1", "three", durable=False)
            await journal.flush()
            records = await journal.records("r1")
            assert [r.seq for r in records] == [0, 1, 2, 3]
            assert data_of(records) == ["header", "one", "two", "three"]
            assert all(a.at <= b.at for a, b in itertools.pairwise(records))
            info = await journal.info("r1")
            assert info is not None
            assert (info.status, info.prompt, info.owner, info.records) == (
                "running",
                "the prompt",
                journal.owner,
                4,
            )
            assert info.lease_until is not None
            assert info.lease_until > info.created_at

            await journal.end("r1", "finished", output="done", error=None)
            info = await journal.info("r1")
            assert info is not None
            assert (info.status, info.output, info.owner, info.lease_until) == (
                "finished",
                "done",
                None,
                None,
            )
            with pytest.raises(JournalError, match="not held"):
                journal.append("r1", "late", durable=False)

            await journal.begin("r2", "second", "h2")
            await journal.end("r2", "failed", output=None, error="boom")
            await journal.begin("r3", "third", "h3")
            assert [i.run_id for i in await journal.runs()] == ["r3", "r2", "r1"]
            assert [i.run_id for i in await journal.runs(limit=1)] == ["r3"]
            failed = await journal.runs(status="failed")
            assert [(i.run_id, i.error, i.records) for i in failed] == [("r2", "boom", 1)]
            assert await journal.info("nope") is None
            assert await journal.records("nope") == []
            with pytest.raises(RunNotFound):
                await journal.claim("nope")

            # Claimed again after its end: numbering goes on where it stopped.
            await journal.claim("r1")
            await journal.append("r1", "resumed", durable=True)
            records = await journal.records("r1")
            assert [(r.seq, r.data) for r in records][-2:] == [(3, "three"), (4, "resumed")]

    run(main())


def test_a_taken_id_is_refused_and_left_alone(store: Store) -> None:
    async def main() -> None:
        async with store.open() as journal:
            await journal.begin("r", "p", "header")
            await journal.append("r", "kept", durable=True)
            with pytest.raises(RunExists) as caught:
                await journal.begin("r", "other prompt", "other header")
            assert caught.value.info.prompt == "p"
            assert data_of(await journal.records("r")) == ["header", "kept"]
            await journal.append("r", "still mine", durable=True)  # the holder goes on
            assert len(await journal.records("r")) == 3

    run(main())


def test_waiting_records_are_invisible_to_others_until_committed(shared_store: Store) -> None:
    async def main() -> None:
        async with shared_store.open() as writer, shared_store.open() as reader:
            await writer.begin("r", "p", "header")
            writer.append("r", "a", durable=False)
            writer.append("r", "b", durable=False)
            await asyncio.sleep(0.05)
            assert data_of(await reader.records("r")) == ["header"]
            info = await reader.info("r")
            assert info is not None
            assert info.records == 1
            await writer.append("r", "c", durable=True)
            assert data_of(await reader.records("r")) == ["header", "a", "b", "c"]
            writer.append("r", "d", durable=False)
            assert len(await reader.records("r")) == 4
            await writer.flush()
            assert data_of(await reader.records("r"))[-1] == "d"
            writer.append("r", "e", durable=False)
        async with shared_store.open() as reader:  # closing committed what waited
            assert data_of(await reader.records("r"))[-1] == "e"

    run(main())


def test_a_held_run_is_refused_until_its_lease_runs_out(
    shared_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def main() -> None:
        async with shared_store.open() as holder, shared_store.open() as other:
            await holder.begin("r", "p", "header")
            with pytest.raises(RunHeld) as caught:
                await other.claim("r")
            assert caught.value.info.owner == holder.owner
            await holder.renew("r")
            with pytest.raises(RunHeld):
                await other.claim("r")
            set_lease(monkeypatch, -1.0)  # the holder's next renewal already lapsed
            await holder.renew("r")
            info = await other.claim("r")
            assert info.owner == holder.owner  # the row as it was before the claim
            now = await other.info("r")
            assert now is not None
            assert now.owner == other.owner
            await other.append("r", "taken over", durable=True)
            assert [(r.seq, r.data) for r in await other.records("r")] == [
                (0, "header"),
                (1, "taken over"),
            ]

    run(main())


def test_a_run_is_free_again_after_its_end(shared_store: Store) -> None:
    async def main() -> None:
        async with shared_store.open() as first, shared_store.open() as second:
            await first.begin("r", "p", "header")
            await first.end("r", "paused", output=None, error=None)
            info = await second.claim("r")
            assert info.status == "paused"
            assert info.owner is None
            now = await second.info("r")
            assert now is not None
            assert (now.status, now.owner) == ("running", second.owner)
            with pytest.raises(RunHeld):
                await first.claim("r")

    run(main())


def test_claiming_is_atomic(shared_store: Store) -> None:
    """Eight journal objects (eight connections) claim a free run at once: exactly one wins."""

    async def main() -> None:
        async with shared_store.open() as journal:
            await journal.begin("r", "p", "header")
            await journal.end("r", "paused", output=None, error=None)
        rivals = [shared_store.open() for _ in range(8)]
        for rival in rivals:
            await rival.open()
        try:
            outcomes = await asyncio.gather(
                *(rival.claim("r") for rival in rivals), return_exceptions=True
            )
        finally:
            for rival in rivals:
                await rival.aclose()
        won = [o for o in outcomes if not isinstance(o, BaseException)]
        held = [o for o in outcomes if isinstance(o, RunHeld)]
        assert (len(won), len(held)) == (1, 7), outcomes

    run(main())


HOLD = """
import asyncio, sys, time
from volley.journal import open_journal

async def main():
    journal = open_journal(sys.argv[1])
    await journal.open()
    await journal.claim(sys.argv[2])
    print("held", flush=True)
    await asyncio.sleep(60)

asyncio.run(main())
"""


@contextlib.contextmanager
def child(script: str, *args: str) -> Iterator[subprocess.Popen[str]]:
    """A real child process running `script`; killed (if still alive) and reaped at the end."""
    with subprocess.Popen(
        [sys.executable, "-c", script, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    ) as proc:
        try:
            yield proc
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait()


def first_line(proc: subprocess.Popen[str]) -> str:
    assert proc.stdout is not None
    assert proc.stderr is not None
    line = proc.stdout.readline()
    if not line:  # it died: say why
        proc.wait()
        pytest.fail(f"the child process failed: {proc.stderr.read()}")
    return line


def test_a_dead_holders_run_is_taken_over(shared_store: Store) -> None:
    """A live process's hold is respected; once it is killed (-9), its run is taken over."""

    async def prepare() -> None:
        async with shared_store.open() as journal:
            await journal.begin("r", "p", "header")
            await journal.end("r", "paused", output=None, error=None)

    run(prepare())
    with child(HOLD, shared_store.url, "r") as proc:
        assert first_line(proc) == "held\n"

        async def refused() -> None:
            async with shared_store.open() as journal:
                with pytest.raises(RunHeld) as caught:
                    await journal.claim("r")
                assert f":{proc.pid}:" in str(caught.value.info.owner)

        run(refused())
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        assert proc.returncode == -signal.SIGKILL

    async def taken() -> None:
        async with shared_store.open() as journal:
            await journal.claim("r")
            await journal.append("r", "resumed", durable=True)
            assert data_of(await journal.records("r")) == ["header", "resumed"]

    run(taken())


WRITE = """
import asyncio, sys
from volley.journal import open_journal

async def main():
    journal = open_journal(sys.argv[1])
    runs = ["w0", "w1", "w2"]
    for r in runs:
        await journal.begin(r, "p", "header")
    i = 0
    while True:
        durable = i % 5 == 4
        done = [journal.append(r, f"{r}:{i}:" + "x" * (i * 37 % 500), durable=durable)
                for r in runs]
        if durable:
            await asyncio.gather(*done)
            print(i, flush=True)
        i += 1

asyncio.run(main())
"""


def test_a_writer_killed_mid_stream_leaves_whole_prefixes(shared_store: Store) -> None:
    with child(WRITE, shared_store.url) as proc:
        assert proc.stdout is not None
        committed = int(first_line(proc))
        while committed < 60:
            committed = int(proc.stdout.readline())
        os.kill(proc.pid, signal.SIGKILL)  # while it goes on appending and committing
        proc.wait()

    async def read_back() -> None:
        async with shared_store.open() as journal:
            runs = await journal.runs()
            assert sorted(i.run_id for i in runs) == ["w0", "w1", "w2"]
            for info in runs:
                records = await journal.records(info.run_id)
                assert info.records == len(records) > committed + 1
                assert [r.seq for r in records] == list(range(len(records)))
                expected = [f"{info.run_id}:{i}:" + "x" * (i * 37 % 500) for i in range(10**4)]
                assert data_of(records) == ["header", *expected[: len(records) - 1]]

    run(read_back())


def test_many_runs_appending_at_once_share_commits(store: Store) -> None:
    async def main() -> None:
        async with store.open() as journal:
            runs = [f"r{n}" for n in range(32)]
            await asyncio.gather(*(journal.begin(r, "p", "header") for r in runs))
            before = journal.commits

            async def turn(run_id: str) -> None:
                for i in range(20):
                    await journal.append(run_id, f"{run_id}:{i}", durable=i % 2 == 1)

            await asyncio.gather(*(turn(r) for r in runs))
            commits = journal.commits - before
            assert 1 <= commits <= 32 * 20 // 8, commits
            for r in runs:
                records = await journal.records(r)
                assert data_of(records) == ["header", *(f"{r}:{i}" for i in range(20))]

    run(main())


def test_one_journal_object_on_one_event_loop_after_another(store: Store) -> None:
    """`asyncio.run` twice with the same journal: a connection of a closed loop is replaced."""
    journal = store.open()

    async def first() -> None:
        await journal.begin("r", "p", "header")
        await journal.append("r", "one", durable=True)
        journal.append("r", "two", durable=False)  # still waiting when this loop closes

    async def second() -> None:
        await journal.append("r", "three", durable=True)
        assert data_of(await journal.records("r")) == ["header", "one", "two", "three"]

    connections = []

    async def remember() -> None:
        connections.append(getattr(journal, "_conn", None))

    run(first())
    run(remember())
    run(second())
    run(remember())
    if store.kind == "postgres":  # each loop had its own connection; the old one was closed
        assert connections[0] is not connections[1]
        assert connections[0].closed
    run(journal.aclose())
    run(journal.aclose())  # closing twice is harmless

    async def third() -> None:
        async with journal:  # and it opens again
            assert len(await journal.records("r")) == (4 if store.shared else 0)

    run(third())


def test_a_commit_that_fails_breaks_the_journal(
    shared_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A holder whose run was taken over (its lease lapsed) commits a record number the new
    holder already used: that commit fails, the records in it are lost, and nothing after them
    is committed (no run is left with a gap); the new holder's records stand."""

    async def main() -> None:
        async with shared_store.open() as old, shared_store.open() as new:
            await old.begin("r", "p", "header")
            await old.begin("other", "p", "header")
            await old.append("r", "a", durable=True)
            set_lease(monkeypatch, -1.0)
            await old.renew("r")
            set_lease(monkeypatch, 30.0)
            await new.claim("r")
            await new.append("r", "new", durable=True)

            old.append("other", "lost with it", durable=False)
            blocker = None
            if shared_store.kind == "sqlite-file":  # hold the file's write lock meanwhile
                blocker = sqlite3.connect(shared_store.url.removeprefix("sqlite:///"))
                blocker.isolation_level = None
                blocker.execute("BEGIN IMMEDIATE")
            first = asyncio.ensure_future(old.append("r", "clash", durable=True))
            await asyncio.sleep(0.1 if blocker else 0)  # the writer takes that commit, waits
            # Appended now, or refused at once if the failed commit has been seen already.
            second = asyncio.ensure_future(append_now(old, "other", "after the loss"))
            await asyncio.sleep(0)  # and the next one waits behind it
            if blocker is not None:
                blocker.execute("COMMIT")
                blocker.close()
            with pytest.raises(JournalError, match="could not commit"):
                await first
            with pytest.raises(JournalError, match="could not commit"):
                await second
            with pytest.raises(JournalError, match="could not commit"):
                old.append("other", "refused", durable=False)
            assert data_of(await new.records("r")) == ["header", "a", "new"]
            assert data_of(await new.records("other")) == ["header"]

    run(main())


# -- any interleaving -----------------------------------------------------------------------------

TEXT = st.text(st.characters() | st.sampled_from(["\x00", "\ud800", "\udfff"]), max_size=12)
STEPS = st.lists(
    st.tuples(st.integers(0, 3), TEXT, st.booleans(), st.booleans()), min_size=1, max_size=40
)


@given(steps=STEPS)
@examples(30)
def test_any_interleaving_reads_back_exactly(store: Store, steps: list[Any]) -> None:
    """Appends to four runs in any order, durable or not, awaited at once or later, with text
    that may be refused: after a flush each run holds exactly what it accepted, in order."""
    prefix = uuid.uuid4().hex[:8]
    runs = [f"{prefix}-{n}" for n in range(4)]

    async def main() -> None:
        journal = store.open()
        async with journal:
            await asyncio.gather(*(journal.begin(r, "p", "header") for r in runs))
            accepted: dict[str, list[str]] = {r: [] for r in runs}
            later = []
            for index, data, durable, wait_now in steps:
                try:
                    done = journal.append(runs[index], data, durable=durable)
                except JournalError:
                    assert "\x00" in data or any(0xD800 <= ord(c) <= 0xDFFF for c in data)
                    continue
                accepted[runs[index]].append(data)
                if wait_now:
                    await done
                else:
                    later.append(done)
            await asyncio.gather(*later)
            await journal.flush()
            reader = store.open() if store.shared else journal
            async with contextlib.AsyncExitStack() as stack:
                if reader is not journal:
                    await stack.enter_async_context(reader)
                for r in runs:
                    records = await reader.records(r)
                    assert [rec.seq for rec in records] == list(range(len(records)))
                    assert data_of(records) == ["header", *accepted[r]]

    run(main())


# -- hostile text ---------------------------------------------------------------------------------


def test_huge_text_is_kept_whole(store: Store) -> None:
    huge_ascii = "a" * (1 << 20)
    huge_mixed = ("ü€𝄞\\\"'\t\n\r" * (1 << 17))[: 1 << 20]

    async def main() -> None:
        async with store.open() as journal:
            await journal.begin("r", huge_mixed, huge_ascii)
            await journal.append("r", huge_mixed, durable=True)
            journal.append("r", huge_ascii, durable=False)
            await journal.end("r", "finished", output=huge_mixed, error=None)
            assert data_of(await journal.records("r")) == [huge_ascii, huge_mixed, huge_ascii]
            info = await journal.info("r")
            assert info is not None
            assert info.prompt == huge_mixed
            assert info.output == huge_mixed

    run(main())


@pytest.mark.parametrize("bad", ["nul\x00inside", "\x00", "lone \ud800 high", "lone \udfff low"])
def test_text_no_store_can_keep_is_refused_alone(store: Store, bad: str) -> None:
    """NUL (PostgreSQL TEXT refuses it) and lone surrogates (not UTF-8) are refused at once,
    before they join a group commit: the other runs' waiting records are committed as usual."""

    async def main() -> None:
        async with store.open() as journal:
            await journal.begin("good", "p", "header")
            await journal.begin("bad", "p", "header")
            journal.append("good", "before", durable=False)
            journal.append("bad", "fine", durable=False)
            with pytest.raises(JournalError, match="record 2 of run 'bad'"):
                journal.append("bad", bad, durable=False)
            with pytest.raises(JournalError, match="cannot store"):
                journal.append("bad", bad, durable=True)
            journal.append("good", "after", durable=False)
            await journal.append("bad", "next", durable=True)  # takes the refused one's number
            assert data_of(await journal.records("good")) == ["header", "before", "after"]
            assert [(r.seq, r.data) for r in await journal.records("bad")] == [
                (0, "header"),
                (1, "fine"),
                (2, "next"),
            ]
            with pytest.raises(JournalError, match="the prompt"):
                await journal.begin("other", bad, "header")
            with pytest.raises(JournalError, match="the run id"):
                await journal.begin(bad, "p", "header")
            assert await journal.info("other") is None
            with pytest.raises(JournalError, match="the output"):
                await journal.end("bad", "finished", output=bad, error=None)
            await journal.append("bad", "still held", durable=True)
            await journal.end("bad", "finished", output="ok", error=None)
            assert [i.run_id for i in await journal.runs()] == ["bad", "good"]

    run(main())


# -- PostgreSQL: a connection lost ----------------------------------------------------------------


def _kill_connections(url: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid <> "
            "pg_backend_pid() AND datname = current_database() AND backend_type = 'client backend'"
        )


def test_postgres_a_lost_connection(postgres_url: str) -> None:  # noqa: F811
    """A read on a lost connection fails alone and the next connects again; a commit that
    loses records breaks the journal (the runs cannot be trusted to resume from it)."""

    async def main() -> None:
        async with open_journal(postgres_url) as journal:
            await journal.begin("r", "p", "header")
            _kill_connections(postgres_url)
            with pytest.raises(JournalError):
                await journal.info("r")
            info = await journal.info("r")
            assert info is not None
            assert info.records == 1
            journal.append("r", "lost", durable=False)
            _kill_connections(postgres_url)
            with pytest.raises(JournalError, match="could not commit"):
                await journal.append("r", "lost too", durable=True)
            with pytest.raises(JournalError, match="could not commit"):
                journal.append("r", "refused", durable=False)
            with pytest.raises(JournalError, match="could not commit"):
                await journal.info("r")
        async with open_journal(postgres_url) as reader:
            assert data_of(await reader.records("r")) == ["header"]

    run(main())


def test_postgres_url_password_is_not_shown() -> None:
    journal = open_journal("postgresql://me:s3cret@127.0.0.1:1/db")
    assert "s3cret" not in journal.url
    assert journal.url.startswith("postgresql://me:***@127.0.0.1")

    async def main() -> None:
        with pytest.raises(JournalError, match="cannot connect") as caught:
            await journal.open()
        assert "s3cret" not in str(caught.value)

    run(main())


async def append_now(journal: Journal, run_id: str, data: str) -> None:
    """A durable append as a coroutine: a refusal is raised when it is awaited, however early."""
    await journal.append(run_id, data, durable=True)
