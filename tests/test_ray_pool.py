"""`volley.ray.AgentPool` on a real two-node Ray cluster on loopback, against the simulator.

The simulator plays the crash scenario (`_crash.SCENARIO`: three turns, eight calls: reads, a
declared write, an idempotent write, an undeclared tool) in a thread of this process; the
workers, Ray actors in other processes, reach it over loopback, and record their runs in a
PostgreSQL journal (a SQLite file when PostgreSQL is not installed). The tools log every
execution to the run's effect log (`_crash`: fsync'd lines `tool call_id idempotency_key`). A
worker is killed by a real SIGKILL from inside a tool (`save_note`, a non-idempotent write, on
its n-th execution in the first worker to get there: a marker file makes it happen once).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import os
import pickle
import re
import signal
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _ray import RayCluster, ray_cluster, require_ray

ray = require_ray()

import _crash  # noqa: E402
import httpx2  # noqa: E402
from _postgres import find_bin, postgres_server, postgres_url  # noqa: E402, F401
from _sim import sim_in_thread  # noqa: E402
from anthropic import AsyncAnthropic  # noqa: E402

from volley import Agent, MaxTurnsExceeded, ModelTurn, RunResult, Tool, ToolReturns, tool  # noqa: E402
from volley._call import ToolResult  # noqa: E402
from volley._stats import RunStats  # noqa: E402
from volley.journal import RunStatus, open_journal  # noqa: E402
from volley.providers.anthropic import AnthropicProvider  # noqa: E402
from volley.ray import AgentPool, PoolEvent, RunLost  # noqa: E402
from volley.ray._pool_worker import dumps, loads  # noqa: E402
from volley.sim import SimServer, parse_scenario  # noqa: E402

# -- what runs in the workers -----------------------------------------------------------------

KILL: tuple[str, int] | None = None
"""`(marker file, n)`: the worker that first runs `save_note` n times dies (once: the marker)."""

_save_notes = [0]


def _maybe_die() -> None:
    _save_notes[0] += 1
    if KILL is None or _save_notes[0] != KILL[1]:
        return
    try:
        fd = os.open(KILL[0], os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        return  # another worker died already
    os.write(fd, str(os.getpid()).encode())
    os.fsync(fd)
    os.close(fd)
    os.kill(os.getpid(), signal.SIGKILL)


@tool(effects="read")
async def lookup(topic: str) -> str:
    """Look a topic up."""
    await _crash._effect("lookup")
    return f"about {topic} (pid {os.getpid()})"


@tool(effects="write", writes=lambda a: [f"note:{a['name']}"])
async def save_note(name: str, text: str) -> str:
    """Save a note."""
    await _crash._effect("save_note")
    _maybe_die()
    return f"saved {name}"


@tool(effects="write", writes=lambda a: [f"kv:{a['key']}"], idempotent=True)
async def put(key: str, value: str) -> str:
    """Store a value under a key (storing it twice is storing it once)."""
    await _crash._effect("put")
    return f"stored {key}"


@tool
async def notify(who: str) -> str:
    """Tell someone (declares nothing: it may write)."""
    await _crash._effect("notify")
    return f"told {who}"


def pool_agent(
    sim_url: str,
    journal: str | None,
    effects_dir: str,
    kill: tuple[str, int] | None = None,
    max_turns: int = 20,
) -> Agent:
    """The workers' agent (given to the pool as a `functools.partial`)."""
    global KILL
    _crash.EFFECTS_DIR = Path(effects_dir)
    KILL = kill
    http = httpx2.AsyncClient(verify=False)  # plain HTTP: no CA bundle
    client = AsyncAnthropic(base_url=sim_url, api_key="test", max_retries=0, http_client=http)
    provider = AnthropicProvider("claude-sim", client=client)
    tools: list[Tool[..., Any]] = [lookup, save_note, put, notify]
    return Agent(provider, tools, journal=journal, tool_timeout=30.0, max_turns=max_turns)


# -- fixtures ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cluster() -> Iterator[RayCluster]:
    with ray_cluster() as running:
        yield running


@pytest.fixture(scope="module")
def sim() -> Iterator[SimServer]:
    with sim_in_thread(parse_scenario(_crash.SCENARIO), time_scale=0) as server:
        yield server


@pytest.fixture
def folder(cluster: RayCluster, request: pytest.FixtureRequest) -> Path:
    """A folder of this test's own that the workers can write to too."""
    path: Path = cluster.folder / request.node.name.replace("[", "-").replace("]", "")
    path.mkdir()
    _crash.EFFECTS_DIR = path  # this process reads the effect logs
    return path


@pytest.fixture
def journal_url(request: pytest.FixtureRequest, folder: Path) -> str:
    """A PostgreSQL schema of this test's own; a SQLite file if PostgreSQL is not installed."""
    if find_bin() is None and os.environ.get("VOLLEY_REQUIRE_POSTGRES") != "1":
        return f"sqlite:///{folder / 'runs.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


def pids_in(result: RunResult) -> set[int]:
    """The pids the lookups ran in, as they said."""
    found: set[int] = set()
    for message in result.messages:
        if isinstance(message, ToolReturns):
            for answer in message.results:
                found.update(int(pid) for pid in re.findall(r"\(pid (\d+)\)", answer.content))
    return found


def snapshot(url: str, run_ids: tuple[str, ...]) -> dict[str, tuple[_crash.Committed, Any]]:
    """What the journal and the effect logs hold for these runs, read in a thread of its own
    (the caller is a progress listener, on the event loop of `run_many`)."""

    async def read() -> dict[str, tuple[_crash.Committed, Any]]:
        journal = open_journal(url)
        try:
            return {r: (await _crash.committed(journal, r), _crash.effects(r)) for r in run_ids}
        finally:
            await journal.aclose()

    with concurrent.futures.ThreadPoolExecutor(1) as thread:
        return thread.submit(asyncio.run, read()).result()


# -- tests ------------------------------------------------------------------------------------


def test_200_runs_survive_a_killed_worker(
    cluster: RayCluster, sim: SimServer, folder: Path, journal_url: str
) -> None:
    """200 runs over two workers; one worker is SIGKILLed mid-way. Every run ends, in order,
    in the workers' processes; the dead worker's runs are resumed by the others from the
    journal: no call whose result was recorded ran again, no write ran twice, and the write
    the worker died in is answered `outcome_unknown`."""
    marker = folder / "killed"
    make_agent = functools.partial(
        pool_agent, sim.base_url, journal_url, str(folder), (str(marker), 40)
    )
    prompts = [(f"r{i:03d}", f"{_crash.PROMPT} (#{i})") for i in range(200)]
    events: list[PoolEvent] = []
    before: dict[str, tuple[_crash.Committed, Any]] = {}

    def on_progress(event: PoolEvent) -> None:
        events.append(event)
        if event.kind == "worker_died":  # its runs are not resumed before this returns
            before.update(snapshot(journal_url, event.lost))

    async def main() -> tuple[list[RunResult | Exception], list[int]]:
        async with AgentPool(make_agent, num_workers=2, max_runs_per_worker=16) as pool:
            first = [info.pid for info in pool.workers if info is not None]
            results = await pool.run_many(prompts, on_progress=on_progress)
            now = [info.pid for info in pool.workers if info is not None]
        return results, first + now

    started = time.monotonic()
    results, worker_pids = asyncio.run(main())
    took = time.monotonic() - started

    # One worker died, mid-way, holding some runs; it was replaced.
    died = [e for e in events if e.kind == "worker_died"]
    assert len(died) == 1, died
    assert marker.exists()
    dead_pid = int(marker.read_text())
    assert 0 < died[0].progress.done < 200
    lost = died[0].lost
    assert lost
    assert set(lost) == set(before)
    assert len({e.run_id for e in events if e.kind == "resumed"}) == len(lost)
    assert len(set(worker_pids)) == 3
    assert dead_pid in worker_pids
    assert events[-1].progress.finished == 200

    # Every run has its result, in order, computed in the workers.
    assert len(results) == 200
    seen_pids: set[int] = set()
    for (run_id, prompt), result in zip(prompts, results, strict=True):
        assert isinstance(result, RunResult), result
        assert result.run_id == run_id
        assert result.messages[0].text == prompt  # type: ignore[union-attr]
        assert result.output == _crash.FINAL
        seen_pids |= pids_in(result)
    assert os.getpid() not in seen_pids
    assert seen_pids <= set(worker_pids)
    assert len(seen_pids) >= 2

    async def statuses() -> dict[str, RunStatus]:
        journal = open_journal(journal_url)
        try:
            return {info.run_id: info.status for info in await journal.runs(limit=1000)}
        finally:
            await journal.aclose()

    status = asyncio.run(statuses())
    assert len(status) == 200
    assert set(status.values()) == {"finished"}

    # The dead worker's runs: the rules of resuming, against what really ran.
    unknown = 0
    for run_id in lost:
        committed, effects_before = before[run_id]
        result = results[int(run_id[1:])]
        assert isinstance(result, RunResult)
        _crash.check_resumed(
            run_id, committed, effects_before, _crash.effects(run_id), result, status[run_id]
        )
        unknown += sum(
            a.error_kind == "outcome_unknown"
            for m in result.messages
            if isinstance(m, ToolReturns)
            for a in m.results
        )
    assert unknown >= 1  # the save_note its worker died in
    print(f"200 runs in {took:.1f} s; a worker died holding {len(lost)}, {unknown} unknown")
    # Every other run ran each of its eight calls exactly once.
    for run_id, _ in prompts:
        if run_id not in lost:
            ran = Counter(e.key for e in _crash.effects(run_id))
            assert sorted(ran.values()) == [1] * 8, (run_id, ran)


def test_without_a_journal_the_dead_workers_runs_fail_in_their_slots(
    cluster: RayCluster, sim: SimServer, folder: Path
) -> None:
    """No journal: the runs the dead worker held get `RunLost`; the others, and the runs sent
    to its replacement, finish (with the terminal progress bar on)."""
    marker = folder / "killed"
    make_agent = functools.partial(pool_agent, sim.base_url, None, str(folder), (str(marker), 1))
    events: list[PoolEvent] = []

    async def main() -> list[RunResult | Exception]:
        async with AgentPool(make_agent, num_workers=2, max_runs_per_worker=3) as pool:
            prompts = [_crash.PROMPT] * 10
            return await pool.run_many(prompts, on_progress=events.append, progress=True)

    results = asyncio.run(main())
    died = [e for e in events if e.kind == "worker_died"]
    assert len(died) == 1
    assert died[0].lost
    failed = {r.run_id: r for r in results if isinstance(r, RunLost)}
    assert set(failed) == set(died[0].lost)
    for error in failed.values():
        assert "no journal to resume" in str(error), error
    finished = [r for r in results if isinstance(r, RunResult)]
    assert len(finished) + len(failed) == 10
    assert all(r.output == _crash.FINAL for r in finished)
    assert len({r.run_id for r in finished}) == len(finished)  # ids made for the prompts


def test_a_failed_run_brings_its_exception_and_close_kills_the_workers(
    cluster: RayCluster, sim: SimServer, folder: Path
) -> None:
    """A run that raised has its exception in its slot, transcript and all (volley's errors do
    not unpickle by the default rules); `close()` kills the workers and leaves the process
    connected to the cluster it was attached to."""
    make_agent = functools.partial(pool_agent, sim.base_url, None, str(folder), None, 1)
    events: list[PoolEvent] = []

    async def main() -> tuple[list[RunResult | Exception], list[int]]:
        async with AgentPool(make_agent, num_workers=2) as pool:
            with pytest.raises(ValueError, match="given twice"):
                await pool.run_many([("a", "x"), ("a", "y")])
            results = await pool.run_many([("e1", "one"), ("e2", "two")], on_progress=events.append)
            return results, [info.pid for info in pool.workers if info is not None]

    results, pids = asyncio.run(main())
    for error in results:
        assert isinstance(error, MaxTurnsExceeded), error
        assert isinstance(error.messages[-1], ToolReturns)
        assert len(error.stats.turns) == 1
        assert any("AgentPool worker" in note for note in error.__notes__)
    assert [e.kind for e in events].count("failed") == 2
    assert ray.is_initialized()
    deadline = time.monotonic() + 10
    alive = set(pids)
    while alive and time.monotonic() < deadline:
        for pid in list(alive):
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                alive.discard(pid)
        time.sleep(0.1)
    assert not alive, f"workers still running: {alive}"


def test_outcomes_that_do_not_pickle_still_come_back() -> None:
    """What a worker sends: volley's errors with their transcript; a tool's value that cannot be
    pickled is replaced by its repr; an exception that cannot be, by its type and message."""
    lock_value = ToolResult("c1", "opener", "a lock", value=__import__("threading").Lock())
    turn = ModelTurn(calls=())
    result = RunResult("done", [turn, ToolReturns((lock_value,))], RunStats((), 0.0), "r1")
    kind, back = loads(dumps(("result", result)))
    assert kind == "result"
    assert back.output == "done"
    assert "lock" in back.messages[1].results[0].value

    error = MaxTurnsExceeded(3, [turn], RunStats((), 1.5))
    error.__cause__ = KeyError("k")
    kind, back = loads(dumps(("error", error)))
    assert isinstance(back, MaxTurnsExceeded)
    assert back.messages == [turn]
    assert back.stats.wall_time == 1.5
    assert isinstance(back.__cause__, KeyError)
    assert pickle.loads(pickle.dumps(RunLost("gone", "r1"))).run_id == "r1"

    odd = RuntimeError("outer")
    odd.handle = __import__("threading").Lock()  # type: ignore[attr-defined]
    kind, back = loads(dumps(("error", odd)))
    assert isinstance(back, RuntimeError)
    assert "outer" in str(back)
