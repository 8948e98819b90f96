"""What every journal store does: runs, their records in order, and who holds a run.

A store keeps two things: one row per run (its status and its lease: which process is running
it, until when), and the run's records, numbered from 0 in the order they were appended. The
records themselves are JSON text the store never reads (`_codec` does). One process appends to
a run at a time: it holds the run's lease, renewing it while it runs; a second process that
tries to resume the run gets `RunHeld`. A lease whose process is gone (same host, its pid no
longer alive) or whose time ran out can be taken over: that is how a crashed run is resumed.

Appending is cheap unless asked to be durable: records wait in memory until a durable append
or a `flush` commits everything waiting at once (group commit), so a turn costs one or two
syncs to disk however many calls it has.
"""

from __future__ import annotations

import abc
import os
import socket
import time
import uuid
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Literal, TypeAlias

from .._errors import VolleyError

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
    "StoredRecord",
    "check_text",
    "lease_is_free",
    "new_owner",
]

LEASE_SECONDS = 30.0
"""How long a run stays held by a process that stopped renewing it (renewed every third)."""

RunStatus: TypeAlias = Literal["running", "paused", "finished", "failed"]
"""Where a run stands: `running` (or stopped by a crash, until resumed), `paused` for approval,
`finished` with the model's answer, or `failed`."""


class JournalError(VolleyError):
    """The journal could not be read or written."""


class JournalCorrupt(JournalError):
    """A record could not be understood: changed or damaged outside volley."""


class RunNotFound(JournalError, KeyError):
    """No run of that id is in the journal."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "no such run"


class RunExists(JournalError):
    """A run of that id is already in the journal."""

    def __init__(self, info: RunInfo, hint: str = "") -> None:
        said = f"run {info.run_id!r} is already in the journal"
        super().__init__(f"{said}: {hint}" if hint else f"{said} ({info.status})")
        self.info = info
        """The run that is there already."""


class RunHeld(JournalError):
    """Another process is running (or resuming) the run."""

    def __init__(self, info: RunInfo) -> None:
        until = time.strftime("%H:%M:%S", time.localtime(info.lease_until or 0))
        super().__init__(
            f"run {info.run_id!r} is held by another process ({info.owner}) until {until} "
            "unless it renews its hold; try again after that, or stop that process"
        )
        self.info = info
        """The run, with its holder (`owner`) and how long it holds it (`lease_until`)."""


@dataclass(frozen=True, slots=True)
class RunInfo:
    """A run as the journal knows it."""

    run_id: str
    """The run's id."""
    status: RunStatus
    """Where it stands."""
    prompt: str
    """What the user said to start it."""
    created_at: float
    """Wall-clock time (seconds since the epoch)."""
    updated_at: float
    """When it last changed, in wall-clock time."""
    owner: str | None = None
    """The process holding the run (`host:pid:token`), if one does."""
    lease_until: float | None = None
    """Until when its holder holds it, unless it renews its hold (wall-clock time)."""
    output: str | None = None
    """The model's answer, once finished."""
    error: str | None = None
    """Why it failed, if it did."""
    records: int = 0
    """How many records it has."""


@dataclass(frozen=True, slots=True)
class StoredRecord:
    """One record as stored: its number in the run, when it was appended, its JSON text."""

    seq: int
    """Its number in the run (0 for the run's header)."""
    at: float
    """When it was appended, in wall-clock time."""
    data: str
    """The record, as JSON text."""


def new_owner() -> str:
    """This process's name as a run's holder: host, pid, and a token unique to the journal."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def check_text(what: str, text: str | None) -> None:
    """Refuse text no store keeps faithfully, before it joins a group commit.

    A NUL character (PostgreSQL's TEXT cannot hold it) or a lone surrogate (not encodable as
    UTF-8) would make the whole commit fail, losing every other run's waiting records with it;
    refused here, only the caller's own append fails. `_codec`'s JSON escapes NUL and refuses lone
    surrogates, so only text made elsewhere trips this.

    Raises:
        JournalError: the text holds a NUL or a lone surrogate.
    """
    if text is None:
        return
    if "\x00" in text:
        raise JournalError(f"{what} holds a NUL character, which a journal cannot store")
    if text.isascii():
        return
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise JournalError(
            f"{what} holds a lone surrogate at {exc.start}, which a journal cannot store"
        ) from None


def lease_is_free(owner: str | None, lease_until: float | None, me: str, now: float) -> bool:
    """Whether `me` may take a run held by `owner` until `lease_until`."""
    if owner is None or owner == me or lease_until is None or lease_until < now:
        return True
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():  # another journal object of this process: ask it to let go
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True  # its process is gone: a crash
    except PermissionError:
        return False  # alive, someone else's
    return False


class Journal(abc.ABC):
    """Where runs are recorded. `open_journal(url)` makes one from a URL.

    Use it from one process's event loop(s); several processes may share one journal (a
    file, a database), each holding different runs.
    """

    url: str
    """Where the journal is (`sqlite:///runs.db`, `postgresql://...`)."""
    owner: str
    """This process's name as a run's holder: `host:pid:token`."""
    commits: int
    """Commits (syncs to disk) so far: what a turn costs, for benchmarks."""
    _seq: dict[str, int]
    """The next record number of each run this journal holds."""
    _broken: BaseException | None
    """Why commits stopped (records were lost): every later append fails with it."""

    def _next_record(self, run_id: str, data: str) -> int:
        """The number of a record about to be appended (the checks every store makes first)."""
        if self._broken is not None:
            raise self._broken
        seq = self._seq.get(run_id)
        if seq is None:
            raise JournalError(f"run {run_id!r} is not held by this process")
        check_text(f"record {seq} of run {run_id!r}", data)
        self._seq[run_id] = seq + 1
        return seq

    def _claimed(self, run_id: str, info: RunInfo | None, taken: bool, next_seq: int) -> RunInfo:
        """What a store's claim found, as `claim` returns or raises it."""
        if info is None:
            raise RunNotFound(f"no run {run_id!r} in the journal {self.url}")
        if not taken:
            raise RunHeld(info)
        self._seq[run_id] = next_seq
        return info

    @abc.abstractmethod
    async def open(self) -> None:
        """Connect, and make the tables if they are not there yet."""

    @abc.abstractmethod
    async def aclose(self) -> None:
        """Commit what waits, then disconnect."""

    async def __aenter__(self) -> Journal:
        await self.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    @abc.abstractmethod
    async def begin(self, run_id: str, prompt: str, header: str) -> None:
        """Record a new run, held by this process, with `header` as its record 0 (durable).

        Raises:
            RunExists: the id is taken.
        """

    @abc.abstractmethod
    async def claim(self, run_id: str) -> RunInfo:
        """Hold an existing run (to resume it), and set it running.

        Raises:
            RunNotFound: no such run.
            RunHeld: a live process holds it.
        """

    @abc.abstractmethod
    def append(self, run_id: str, data: str, *, durable: bool) -> Awaitable[None]:
        """Add a record to a run this process holds.

        Returns at once with what completes when the record is on disk: awaiting it is only
        needed when `durable` (it then commits everything waiting, in one sync).
        """

    @abc.abstractmethod
    async def flush(self) -> None:
        """Commit every record appended so far."""

    @abc.abstractmethod
    async def renew(self, run_id: str) -> None:
        """Keep holding the run for another `LEASE_SECONDS`."""

    @abc.abstractmethod
    async def end(
        self, run_id: str, status: RunStatus, *, output: str | None, error: str | None
    ) -> None:
        """Commit what waits, set the run's status and let it go."""

    @abc.abstractmethod
    async def info(self, run_id: str) -> RunInfo | None:
        """The run's row, or `None`."""

    @abc.abstractmethod
    async def records(self, run_id: str) -> list[StoredRecord]:
        """Every committed record of the run, in order."""

    @abc.abstractmethod
    async def runs(self, *, status: RunStatus | None = None, limit: int = 100) -> list[RunInfo]:
        """The most recently updated runs first."""
