"""What an `AgentPool` keeps of the runs it was given: each run's place, the queue, the events.

The queue hands runs to workers in order and takes back a dead worker's runs; the tally counts
what has happened and tells the listeners (`PoolEvent`s, with the counts so far).
"""

from __future__ import annotations

import asyncio
import collections
import logging
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

from .._errors import VolleyError
from .._result import RunResult
from ._pool_worker import WorkerInfo

__all__ = [
    "Job",
    "PoolEvent",
    "PoolProgress",
    "Prompt",
    "Queue",
    "RunLost",
    "Slot",
    "Tally",
    "jobs_of",
]

logger = logging.getLogger("volley")

Prompt: TypeAlias = str | tuple[str, str]
"""A prompt, or `(run id, prompt)`."""


class RunLost(VolleyError):
    """A run's worker died and the run could not be resumed elsewhere.

    Either the agent has no journal other processes can read (none, or `memory`), or the run
    was on `max_worker_deaths` workers that died. With a journal, what it recorded is still
    there: `agent.resume(run_id)` goes on with it.
    """

    def __init__(self, message: str, run_id: str) -> None:
        super().__init__(message)
        self.run_id = run_id
        """The run that was lost: resume it with `agent.resume(run_id)` if it has a journal."""

    def __reduce__(self) -> tuple[Any, ...]:
        return (RunLost, (str(self), self.run_id))


@dataclass(frozen=True, slots=True)
class PoolProgress:
    """How far a `run_many` is."""

    total: int
    """Runs in this `run_many`."""
    finished: int = 0
    """Runs that returned a `RunResult`."""
    failed: int = 0
    """Runs whose slot holds an exception."""
    running: int = 0
    """Runs on a worker now."""
    resumed: int = 0
    """Runs sent again after their worker died."""
    worker_deaths: int = 0
    """Workers that died so far."""

    @property
    def done(self) -> int:
        """Runs whose slot holds their outcome: finished or failed."""
        return self.finished + self.failed


EventKind: TypeAlias = Literal[
    "started", "finished", "failed", "worker_died", "requeued", "resumed"
]


@dataclass(frozen=True, slots=True)
class PoolEvent:
    """Something that happened in a `run_many`, with the progress after it.

    - `started`: a run was sent to worker `worker`;
    - `finished` / `failed`: its `RunResult` / its exception (`error`) is in its slot;
    - `worker_died`: worker `worker` died (`error`: Ray's error) holding the runs `lost`; a
      replacement is starting, and each of those runs is `requeued` (or `failed`, without a
      journal) right after this event;
    - `requeued`: a run of a dead worker waits to be sent again;
    - `resumed`: it was sent again, to be resumed from the journal.
    """

    kind: EventKind
    """What happened (see above)."""
    progress: PoolProgress
    """The counts after it."""
    index: int | None = None
    """The run's position in the prompts."""
    run_id: str | None = None
    """The run it is about (none for `worker_died`)."""
    worker: int | None = None
    """The worker's number (0 to `num_workers - 1`; a replacement takes its number)."""
    error: BaseException | None = None
    """For `failed`, the run's exception; for `worker_died`, Ray's error."""
    lost: tuple[str, ...] = ()
    """For `worker_died`, the ids of the runs the worker held."""


@dataclass(eq=False)
class Job:
    index: int
    run_id: str
    prompt: str
    resume: bool = False
    deaths: int = 0


@dataclass(eq=False)
class Slot:
    """One worker's place: its current actor, replaced when it dies."""

    number: int
    handle: Any = None
    info: WorkerInfo | None = None
    generation: int = 0
    """Counts the actors this place has had: a death is handled once per actor."""
    broken: BaseException | None = None
    """Why no worker can run here any more (a replacement that would not start)."""
    running: dict[str, tuple[Job, int]] = field(default_factory=dict)
    """The runs in flight, and the generation of the actor each was sent to."""
    replacing: asyncio.Future[None] | None = None
    room: asyncio.Semaphore | None = None


class Queue:
    """The runs not yet sent; a run sent again goes first."""

    def __init__(self, jobs: Iterable[Job]) -> None:
        self.pending = collections.deque(jobs)
        self.left = len(self.pending)
        self.changed = asyncio.Event()

    async def next(self) -> Job | None:
        while not self.pending:
            if self.left == 0:
                return None
            self.changed.clear()
            await self.changed.wait()
        return self.pending.popleft()

    def again(self, job: Job) -> None:
        self.pending.appendleft(job)
        self.changed.set()

    def done(self) -> None:
        self.left -= 1
        self.changed.set()


class Tally:
    """The results so far, and the progress events they make."""

    def __init__(self, total: int, listeners: list[Callable[[PoolEvent], None]]) -> None:
        self.results: list[RunResult | Exception | None] = [None] * total
        self.progress = PoolProgress(total)
        self.listeners = listeners

    def emit(self, kind: EventKind, job: Job | None = None, **more: Any) -> None:
        counts = {
            "started": {"running": 1},
            "resumed": {"running": 1, "resumed": 1},
            "finished": {"running": -1, "finished": 1},
            "failed": {"running": -1, "failed": 1},
            "worker_died": {"worker_deaths": 1},
            "requeued": {"running": -1},
        }[kind]
        progress = self.progress
        self.progress = progress = PoolProgress(
            total=progress.total,
            **{
                name: getattr(progress, name) + counts.get(name, 0)
                for name in ("finished", "failed", "running", "resumed", "worker_deaths")
            },
        )
        if job is not None:
            more.update(index=job.index, run_id=job.run_id)
        event = PoolEvent(kind, progress, **more)
        for listen in self.listeners:
            try:
                listen(event)
            except Exception:  # a display that fails must not lose the runs
                logger.exception("an AgentPool progress listener raised")


def jobs_of(prompts: Iterable[Prompt]) -> list[Job]:
    if isinstance(prompts, str):
        raise TypeError("run_many takes a list of prompts, not one prompt")
    jobs: list[Job] = []
    seen: set[str] = set()
    for index, item in enumerate(prompts):
        if isinstance(item, str):
            run_id, prompt = uuid.uuid4().hex, item
        elif (
            isinstance(item, tuple)
            and len(item) == 2
            and isinstance(item[0], str)
            and isinstance(item[1], str)
        ):
            run_id, prompt = item
        else:
            raise TypeError(
                f"prompt {index} is a {type(item).__name__}: give a str or a (run_id, prompt) "
                "tuple of str"
            )
        if not run_id:
            raise ValueError(f"prompt {index} has an empty run id")
        if run_id in seen:
            raise ValueError(f"run id {run_id!r} is given twice")
        seen.add(run_id)
        jobs.append(Job(index, run_id, prompt))
    return jobs
