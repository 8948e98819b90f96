"""Durable runs under real crashes: a process killed by SIGKILL, its run resumed by another.

`durable_child.py` runs the crash scenario (`_crash.SCENARIO`: three turns, reads, a declared
write, an idempotent write and an undeclared tool, several calls a turn) against the simulator,
which runs here in a thread, with a journal; it dies by SIGKILL before and after every journal
write of a clean run, inside every call's body, and while every model request is in flight.
Another process (forked from the same child, fresh) then resumes each run, and this one checks,
from the tools' effect logs (what really ran) and the final conversation, the rules of resuming
(`_crash.check_resumed`).

The journal writes of a clean run are the crash points between things: before and after each
call's "started" record (a write's is durable before its body), each "finished" record (between
two calls), each "turn" record (the model's response) and each "turn_ended" record (between
turns, durable before the next request), the run's first record and its end. Some runs are
killed again while being resumed. SQLite is swept with streamed and whole responses, and twice
killed runs; PostgreSQL with streamed responses.
"""

from __future__ import annotations

import asyncio
import json
import os
import pickle
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import _crash
import pytest
from _sim import sim_in_thread

from volley.journal import RunExists, RunHeld, open_journal
from volley.sim import SimServer, parse_scenario

try:
    from _postgres import postgres_server, postgres_url  # noqa: F401  (fixtures)

    HAVE_POSTGRES = True
except ImportError:  # pragma: no cover - the PostgreSQL fixtures are not there: SQLite only
    HAVE_POSTGRES = False

CHILD = Path(__file__).with_name("durable_child.py")


@pytest.fixture(scope="module")
def sim() -> Iterator[SimServer]:
    """The simulator playing the crash scenario, shared by every process of this module."""
    with sim_in_thread(parse_scenario(_crash.SCENARIO), time_scale=0) as server:
        yield server


@pytest.fixture(autouse=True)
def effects_dir(tmp_path: Path) -> Iterator[Path]:
    _crash.EFFECTS_DIR = tmp_path
    yield tmp_path
    _crash.EFFECTS_DIR = None


def sqlite_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'runs.db'}"


def postgres(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    url: str = request.getfixturevalue("postgres_url")
    return url


STORES: dict[str, Callable[[pytest.FixtureRequest, Path], str]] = {"sqlite": sqlite_url}
if HAVE_POSTGRES:
    STORES["postgres"] = postgres
"""How to get a fresh journal URL for a test, per store: a new store is one line here."""


@pytest.fixture(params=sorted(STORES))
def store(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
def journal_url(store: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return STORES[store](request, tmp_path)


def child(mode: str, job: dict[str, Any]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(CHILD), mode, json.dumps(job)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=CHILD.parent,
        start_new_session=True,  # a process group of its own, to kill if it hangs
    )


def finish(process: subprocess.Popen[str], timeout: float = 150.0) -> tuple[int, Any]:
    """Wait for a child; its exit code and what it printed last (JSON).

    The timeout only stops a hang: a loaded CI machine can take a minute for a sweep's child.
    """
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)  # the child and the processes it forked
        stdout, stderr = process.communicate()
        raise AssertionError(f"the child did not finish in {timeout} s:\n{stderr}") from None
    said = json.loads(stdout.strip().splitlines()[-1]) if stdout.strip() else None
    if process.returncode not in (0, 3):
        raise AssertionError(f"the child failed ({process.returncode}):\n{stderr}")
    return process.returncode, said


async def clean_run(sim: SimServer, url: str, run_id: str, streaming: bool) -> list[str]:
    """Run the scenario without a crash: the journal writes it makes, in order."""
    journal = _crash.KillingJournal(open_journal(url))
    agent = _crash.make_agent(sim.base_url, journal, streaming=streaming)
    try:
        result = await agent.run(_crash.PROMPT, run_id=run_id)
        info = await journal.info(run_id)
    finally:
        await _crash.close(agent)
        await journal.aclose()
    ran = _crash.effects(run_id)
    _crash.check_resumed(
        run_id, _crash.Committed(None), [], ran, result, info.status if info else None
    )
    assert sorted(e.tool for e in ran) == sorted(Counter(_crash.CALLS_PER_TOOL).elements())
    return journal.ops


def summary(messages: list[Any]) -> list[Any]:
    """A conversation as text: what the model said and called, and what it was told."""
    out: list[Any] = []
    for message in messages:
        if message.kind == "user":
            out.append(("user", message.text))
        elif message.kind == "model":
            out.append(
                ("model", message.text, [(c.id, c.name, c.arguments) for c in message.calls])
            )
        else:
            out.append(("tools", [(r.call_id, r.content, r.error_kind) for r in message.results]))
    return out


def check(outcome: _crash.Outcome, run_id: str) -> None:
    if outcome.first is not None:  # killed twice: what finished before either never reran
        killed, first, effects_first = outcome.first
        assert killed == -9, f"{outcome.point}: the run did not die there"
        ran_first = Counter(e.key for e in effects_first)
        ran = Counter(e.key for e in outcome.effects_after)
        for key in first.finished:
            assert ran[key] == ran_first[key], f"{outcome.point}: {key} finished, yet ran again"
        # The resume may have finished before its kill point came.
        assert outcome.killed in (-9, 0), outcome.point
    else:
        assert outcome.killed == -9, f"{outcome.point}: the run did not die there"
    assert outcome.not_found == (outcome.before.info is None), outcome.point
    _crash.check_resumed(
        run_id,
        outcome.before,
        outcome.effects_before,
        outcome.effects_after,
        outcome.result,
        outcome.status,
    )
    # Finished: running it again gives the recorded result without asking the model.
    assert outcome.requests_again == 0, outcome.point
    assert outcome.again.output == _crash.FINAL
    assert summary(outcome.again.messages) == summary(outcome.result.messages), outcome.point


MODES = {"streaming": True, "whole": False}
"""Streamed responses (reads start while the model writes) and whole ones."""

TWICE = ("in:save_note:1", "in:lookup:3", "request:2")
"""Where runs die before dying again while resuming: with calls of turn 1 or 2 open, or with
turn 1 ended and the next response not yet recorded."""

SWEPT = {"sqlite": ("streaming", "whole"), "postgres": ("streaming",)}
"""The modes each store is swept in (a PostgreSQL process costs more: the default mode)."""


def test_a_run_killed_anywhere_resumes_by_the_rules(
    sim: SimServer, store: str, journal_url: str, effects_dir: Path
) -> None:
    points: list[str] = []
    for mode in SWEPT[store]:
        ops = asyncio.run(clean_run(sim, journal_url, f"clean-{mode}", MODES[mode]))
        assert ops[0] == "begin"
        assert ops[-1] == "end:finished"
        assert ops.count("turn") == 3
        assert ops.count("turn_ended") == 3
        points += _crash.points(mode, ops)
    if store == "sqlite":  # and killed again while resuming (the open turn being finished)
        points += _crash.twice("streaming", TWICE, 6)
    job = {
        "sim": sim.base_url,
        "journal": journal_url,
        "effects": str(effects_dir),
        "points": points,
        "parallel": 4,
        "prefix": "k-",
    }
    code, codes = finish(child("sweep", job))
    assert code == 0
    assert codes == dict.fromkeys(points, 0), "every kill point's pipeline ran"
    states = set()
    for point in points:
        run_id = "k-" + point
        outcome = pickle.loads(_crash.effects_path(run_id).with_suffix(".outcome").read_bytes())
        check(outcome, run_id)
        states.add(outcome.before.info.status if outcome.before.info else "absent")
    # The sweep reached every state a crash leaves a run in.
    assert states == {"absent", "running", "finished"}


def test_two_processes_resuming_one_run_one_is_refused(
    sim: SimServer, journal_url: str, effects_dir: Path
) -> None:
    point, run_id = "streaming.in:save_note:1", "k-streaming.in:save_note:1"
    job = {"sim": sim.base_url, "journal": journal_url, "effects": str(effects_dir)}
    sweep = {**job, "points": [point], "parallel": 1, "prefix": "k-", "resume": False}
    assert finish(child("sweep", sweep)) == (0, {point: 0})
    journal = open_journal(journal_url)
    before = asyncio.run(_crash.committed(journal, run_id))
    ran_before = _crash.effects(run_id)
    assert before.info is not None
    assert before.info.status == "running"
    assert [e.tool for e in ran_before].count("save_note") == 1

    async def run_again() -> None:  # a run that has not finished is resumed, not run again
        agent = _crash.make_agent(sim.base_url, journal)
        try:
            with pytest.raises(RunExists, match="resume"):
                await agent.run(_crash.PROMPT, run_id=run_id)
        finally:
            await _crash.close(agent)

    asyncio.run(run_again())
    # Two processes resume it at once: one holds it (and waits inside a lookup it runs again),
    # the other is refused; so is this process, while the first holds it.
    resume = {**job, "run_id": run_id, "block": ["lookup", 1]}
    racers = [child("resume", resume), child("resume", resume)]
    _crash.wait_for(effects_dir / f"{run_id}.blocked")
    holder = int((effects_dir / f"{run_id}.blocked").read_text())
    (loser,) = [p for p in racers if p.pid != holder]
    code, said = finish(loser)
    assert code == 3
    assert said["held"].split(":")[1] == str(holder)

    async def refused() -> None:
        agent = _crash.make_agent(sim.base_url, journal)
        try:
            with pytest.raises(RunHeld) as held:
                await agent.resume(run_id)
            assert held.value.info.owner is not None
            assert held.value.info.owner.split(":")[1] == str(holder)
        finally:
            await _crash.close(agent)

    asyncio.run(refused())
    (effects_dir / f"{run_id}.release").touch()
    (winner,) = [p for p in racers if p.pid == holder]
    assert finish(winner) == (0, {"status": "finished", "output": _crash.FINAL})

    async def recorded() -> tuple[Any, Any]:
        agent = _crash.make_agent(sim.base_url, journal)
        try:
            requests = len(sim.log)
            result = await agent.run(_crash.PROMPT, run_id=run_id)
            assert len(sim.log) == requests, "a finished run asks the model nothing"
            return result, await journal.info(run_id)
        finally:
            await _crash.close(agent)
            await journal.aclose()

    result, info = asyncio.run(recorded())
    _crash.check_resumed(
        run_id, before, ran_before, _crash.effects(run_id), result, info.status if info else None
    )
    # It died inside save_note: that write is not run again (notify, which overlaps with
    # everything, may have been recorded as starting too: check_resumed covered it).
    unknown = {
        r.name for m in result.messages if m.kind == "tools" for r in m.results if r.is_error
    }
    assert "save_note" in unknown <= {"save_note", "notify"}
