"""`AgentPool`: many agent runs spread over Ray worker actors, each hosting many runs at once.

The driver keeps a queue of runs and, per worker, at most `max_runs_per_worker` of them in
flight; each worker is an async actor running its runs concurrently on one event loop (agent
runs wait on the model and on tools: I/O, not CPU). When a worker dies (Ray raises
`RayActorError` for every run it had), the pool starts a replacement and sends the dead worker's
runs again, to be resumed from the journal (`agent.resume(run_id)`): finished calls are not run
again, an interrupted write is answered `outcome_unknown`. Without a journal other processes
can read, those runs fail with `RunLost` instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import ray
from ray import cloudpickle
from ray.exceptions import RayActorError, RayError

from .._agent import Agent
from .._errors import ConfigurationError
from .._result import RunResult
from ._connect import connect
from ._pool_jobs import Job, PoolEvent, PoolProgress, Prompt, Queue, RunLost, Slot, Tally, jobs_of
from ._pool_worker import PoolWorker, WorkerInfo, loads

__all__ = ["AgentPool", "PoolEvent", "PoolProgress", "RunLost", "WorkerInfo"]

logger = logging.getLogger("volley")


class AgentPool:
    """Many agent runs on Ray: worker actors each hosting many runs at once.

    ```python
    def make_agent() -> Agent:  # picklable, called in each worker
        return Agent("anthropic:claude-sonnet-4-6", tools=[...], journal="postgresql://...")

    async with AgentPool(make_agent, num_workers=4) as pool:
        results = await pool.run_many(prompts)  # or [(run_id, prompt), ...]
    ```

    Each worker is an async Ray actor that calls `make_agent()` once and runs up to
    `max_runs_per_worker` runs of that agent at once; `run_many` hands the runs out as room
    frees up, and returns one entry per prompt, in order: the run's `RunResult`, or the
    exception it raised (a run's failure never stops the others).

    A worker that dies (its process killed, its node lost) is replaced, and its unfinished runs
    are resumed by the workers from the agent's journal: calls that finished are not run
    again, and a write it was running is answered `outcome_unknown`. That needs a journal every
    worker can reach: PostgreSQL, or a SQLite file when all workers are on one host. Without
    one, those runs fail with `RunLost`. Every run has an id (a new one when only a prompt is
    given), in its result and in the journal; a run id that the journal holds already is
    resumed rather than started again (a finished one returns its recorded result).

    Args:
        make_agent: a function of no arguments returning an `Agent`; pickled (cloudpickle)
            and called in each worker, so the workers must be able to import what it uses.
        num_workers: worker actors.
        address: the Ray cluster (`"auto"`: the one running on this machine, `"host:port"`:
            its GCS); `None` starts a local Ray, or uses `RAY_ADDRESS`. A process already
            connected to Ray keeps its connection.
        max_runs_per_worker: runs one worker hosts at once.
        max_worker_deaths: a run whose worker died this many times fails with `RunLost`
            (something in the run may be what kills them).
        worker_options: Ray actor options for the workers (`num_cpus`, `resources`,
            `runtime_env`, `scheduling_strategy`; default: spread over the nodes).
        init: more keyword arguments for `ray.init`, when the pool connects.

    The pool connects to Ray here (`ray.init` takes seconds when it starts a local Ray); its
    workers start with the first `run_many` (or `start()`, or `async with`). `close()` kills
    them, and disconnects from Ray if the pool connected (stopping a local Ray it started; a
    cluster goes on running).
    """

    def __init__(
        self,
        make_agent: Callable[[], Agent],
        num_workers: int = 2,
        *,
        address: str | None = None,
        max_runs_per_worker: int = 32,
        max_worker_deaths: int = 3,
        worker_options: Mapping[str, Any] | None = None,
        init: Mapping[str, Any] | None = None,
    ) -> None:
        if not callable(make_agent):
            raise ConfigurationError("make_agent must be a function that returns an Agent")
        if num_workers < 1:
            raise ConfigurationError("num_workers must be >= 1")
        if max_runs_per_worker < 1:
            raise ConfigurationError("max_runs_per_worker must be >= 1")
        if max_worker_deaths < 1:
            raise ConfigurationError("max_worker_deaths must be >= 1")
        try:
            cloudpickle.dumps(make_agent)  # type: ignore[no-untyped-call]
        except Exception as exc:
            raise ConfigurationError(
                f"make_agent cannot be sent to the Ray workers ({type(exc).__name__}: {exc}): "
                "make it a module-level function (or a functools.partial of one) whose "
                "arguments pickle"
            ) from exc
        self.make_agent = make_agent
        self.num_workers = num_workers
        self.max_runs_per_worker = max_runs_per_worker
        self.max_worker_deaths = max_worker_deaths
        self._options: dict[str, Any] = {
            "scheduling_strategy": "SPREAD",
            **(worker_options or {}),
            "max_concurrency": max_runs_per_worker + 4,
            "max_restarts": 0,
            "max_task_retries": 0,
        }
        self._actor_class: Any = ray.remote(PoolWorker)
        self._owns_connection = connect(address, init)
        self._slots = [Slot(number) for number in range(num_workers)]
        self._started = False
        self._closed = False

    @property
    def workers(self) -> list[WorkerInfo | None]:
        """Each worker's `WorkerInfo` (`None` before it started, or if it cannot be replaced)."""
        return [slot.info for slot in self._slots]

    async def start(self) -> None:
        """Start the workers (each makes its agent) and wait until they are ready.

        Raises:
            RuntimeError: `make_agent` failed in a worker, or a worker died while starting.
        """
        if self._closed:
            raise RuntimeError("this AgentPool is closed")
        if self._started:
            return
        for slot in self._slots:
            slot.room = asyncio.Semaphore(self.max_runs_per_worker)
        try:
            await asyncio.gather(*(self._launch(slot) for slot in self._slots))
        except BaseException:
            self._kill_actors()
            raise
        self._started = True

    async def _launch(self, slot: Slot) -> None:
        handle = self._actor_class.options(**self._options).remote(self.make_agent)
        slot.handle, slot.info = handle, None
        slot.generation += 1
        try:
            slot.info = await handle.start.remote()
        except RayError as exc:
            with contextlib.suppress(Exception):
                ray.kill(handle, no_restart=True)
            slot.handle = None
            raise RuntimeError(
                f"AgentPool worker {slot.number} could not start: {_cause(exc)}"
            ) from exc

    async def run_many(
        self,
        prompts: Iterable[Prompt],
        *,
        on_progress: Callable[[PoolEvent], None] | None = None,
        progress: bool = False,
    ) -> list[RunResult | Exception]:
        """Run every prompt; one entry per prompt, in order: its `RunResult` or its exception.

        Args:
            prompts: prompts, or `(run_id, prompt)` pairs (ids unique; a prompt alone gets a
                new id, `uuid4().hex`).
            on_progress: called with every `PoolEvent`, in this process, as it happens (it must
                be quick; what it raises is logged and ignored).
            progress: show a progress bar in the terminal (rich, on stderr).

        Every prompt gets an entry, whatever happens: a run that raised has its exception
        there (`RunError` and its kinds keep their transcript, the worker's traceback is a
        note on it); a run whose worker died and could not be resumed has a `RunLost`.
        A paused run (calls waiting for approval) is a `RunResult` with `status="paused"`.
        Cancelling `run_many` cancels the runs in flight.
        """
        jobs = jobs_of(prompts)
        await self.start()
        listeners = [on_progress] if on_progress is not None else []
        bar = None
        if progress:
            from ._pool_bar import ProgressBar

            bar = ProgressBar(len(jobs))
            listeners.append(bar)
        tally = Tally(len(jobs), listeners)
        queue = Queue(jobs)
        lanes = [
            asyncio.ensure_future(self._lane(slot, queue, tally))
            for slot in self._slots
            for _ in range(min(self.max_runs_per_worker, len(jobs)))
        ]
        try:
            await asyncio.gather(*lanes)
        finally:
            for lane in lanes:
                lane.cancel()  # when run_many is cancelled, or a lane failed (a bug)
            await asyncio.gather(*lanes, return_exceptions=True)
            if bar is not None:
                bar.stop()
        why = "; ".join(str(s.broken) for s in self._slots if s.broken is not None)
        for job in jobs:
            if tally.results[job.index] is None:  # every worker broke before it could run
                tally.results[job.index] = RunLost(
                    f"run {job.run_id!r} was not run: no worker is left ({why})", job.run_id
                )
        return [r for r in tally.results if r is not None]

    async def _lane(self, slot: Slot, queue: Queue, tally: Tally) -> None:
        """Send runs to one worker, one at a time, until none is left (or the worker breaks)."""
        assert slot.room is not None
        while True:
            job = await queue.next()
            if job is None:
                return
            async with slot.room:
                if slot.replacing is not None:
                    with contextlib.suppress(Exception):
                        await asyncio.shield(slot.replacing)
                if slot.broken is not None:
                    queue.again(job)
                    return
                await self._send(slot, job, queue, tally)

    async def _send(self, slot: Slot, job: Job, queue: Queue, tally: Tally) -> None:
        handle, generation, info = slot.handle, slot.generation, slot.info
        slot.running[job.run_id] = (job, generation)
        tally.emit("resumed" if job.resume else "started", job, worker=slot.number)
        try:
            ref = handle.run.remote(job.run_id, job.prompt, job.resume)
            try:
                data = await ref
            except asyncio.CancelledError:
                with contextlib.suppress(Exception):
                    ray.cancel(ref)
                raise
        except RayActorError as exc:
            self._worker_died(slot, generation, exc, tally)
            slot.running.pop(job.run_id, None)
            self._lost(job, slot, info, exc, queue, tally)
            return
        except RayError as exc:
            slot.running.pop(job.run_id, None)
            failure = RuntimeError(f"Ray could not run {job.run_id!r}: {_cause(exc)}")
            failure.__cause__ = exc
            self._end(job, slot, failure, queue, tally)
            return
        slot.running.pop(job.run_id, None)
        value: RunResult | Exception
        try:
            _, value = loads(data)
        except Exception as exc:  # the run's slot says why
            value = RuntimeError(
                f"the outcome of run {job.run_id!r} could not be read here ({type(exc).__name__}: "
                f"{exc}): this process must be able to import what the workers' tools return "
                "and raise"
            )
        self._end(job, slot, value, queue, tally)

    def _end(
        self, job: Job, slot: Slot, value: RunResult | Exception, queue: Queue, tally: Tally
    ) -> None:
        tally.results[job.index] = value
        if isinstance(value, RunResult):
            tally.emit("finished", job, worker=slot.number)
        else:
            tally.emit("failed", job, worker=slot.number, error=value)
        queue.done()

    def _worker_died(self, slot: Slot, generation: int, exc: BaseException, tally: Tally) -> None:
        """The first word of a worker's death: tell, and start its replacement."""
        if slot.generation != generation or slot.replacing is not None or self._closed:
            return  # told already (another of its runs), or being closed
        lost = tuple(run_id for run_id, (_, g) in slot.running.items() if g == generation)
        tally.emit("worker_died", worker=slot.number, error=exc, lost=lost)
        dead = slot.handle
        with contextlib.suppress(Exception):
            ray.kill(dead, no_restart=True)
        slot.replacing = asyncio.ensure_future(self._replace(slot))

    async def _replace(self, slot: Slot) -> None:
        try:
            await self._launch(slot)
        except Exception as exc:  # the place is given up; the others go on
            slot.broken = exc
            logger.warning("AgentPool worker %d could not be replaced: %s", slot.number, exc)
        finally:
            slot.replacing = None

    def _lost(
        self,
        job: Job,
        slot: Slot,
        info: WorkerInfo | None,
        exc: BaseException,
        queue: Queue,
        tally: Tally,
    ) -> None:
        """A run whose worker died: send it again, to be resumed; or fail it."""
        job.deaths += 1
        if info is None or not info.shared_journal:
            lost = RunLost(
                f"the Ray worker running {job.run_id!r} died ({_cause(exc)}), and its agent has "
                "no journal to resume the run from: give make_agent's Agent a journal the "
                "workers share (journal='postgresql://...', or 'sqlite:///runs.db' when they are "
                "on one host)",
                job.run_id,
            )
            self._end(job, slot, lost, queue, tally)
        elif job.deaths >= self.max_worker_deaths:
            lost = RunLost(
                f"run {job.run_id!r} was on {job.deaths} Ray workers that died (the last: "
                f"{_cause(exc)}), so it is not sent again (max_worker_deaths); its journal "
                f"keeps what it did: agent.resume({job.run_id!r}) goes on with it",
                job.run_id,
            )
            self._end(job, slot, lost, queue, tally)
        else:
            job.resume = True
            tally.emit("requeued", job, worker=slot.number, error=exc)
            queue.again(job)

    # -- closing ------------------------------------------------------------------------------

    async def close(self) -> None:
        """Close the workers' agents, kill the workers, disconnect from Ray if the pool connected.

        A local Ray the pool started stops with it; a cluster it connected to goes on.
        """
        if self._closed:
            return
        self._closed = True
        replacing = [s.replacing for s in self._slots if s.replacing is not None]
        for task in replacing:
            task.cancel()
        await asyncio.gather(*replacing, return_exceptions=True)
        handles = [s.handle for s in self._slots if s.handle is not None]
        if handles:  # let each agent commit and close its journal; a stuck one is killed anyway
            closing = [asyncio.ensure_future(_await(h.close.remote())) for h in handles]
            await asyncio.wait(closing, timeout=CLOSE_TIMEOUT)
            for task in closing:
                task.cancel()
        self._kill_actors()
        if self._owns_connection:
            ray.shutdown()

    def _kill_actors(self) -> None:
        for slot in self._slots:
            if slot.handle is not None:
                with contextlib.suppress(Exception):
                    ray.kill(slot.handle, no_restart=True)
                slot.handle = None

    async def __aenter__(self) -> AgentPool:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


CLOSE_TIMEOUT = 10.0
"""Seconds `close()` gives the workers to close their agents before killing them."""


async def _await(ref: Any) -> Any:
    return await ref


def _cause(exc: BaseException) -> str:
    """A Ray error in one line: its type and the last line of its message."""
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    return f"{type(exc).__name__}: {lines[-1]}" if lines else type(exc).__name__
