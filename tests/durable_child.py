"""The processes the crash tests kill, and those that resume their runs.

    python tests/durable_child.py sweep  '<job as JSON>'   # every kill point, then its resume
    python tests/durable_child.py resume '<job as JSON>'   # resume one run (maybe block in it)

`sweep` imports everything and plays the scenario once (warming up), then for each kill point
(a few at a time) forks a process that forks the one to kill: that one runs the scenario from
the start as run `<prefix><point>` and dies by SIGKILL at its point (see `_crash`); the first,
a fresh process that never ran the run, then resumes it, runs it once more (which must give the
recorded result without asking the model), and pickles what it saw (`_crash.Outcome`) to
`<effects>/<run id>.outcome` (unless the job says `"resume": false`). It prints
`{point: exit code}` as JSON.

`resume` resumes `run_id` in this process, blocking inside a tool if `block` names one (see
`_crash.BLOCK_IN`); it prints `{"status": ..., "output": ...}`, or `{"held": owner}` and exits
3 when another process holds the run.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import pickle
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import _crash

from volley.journal import RunHeld, RunNotFound, open_journal


def _point(text: str) -> dict[str, Any]:
    """A kill point as options: `<mode>.<where>[+<where>]`, the mode `streaming` or `whole`
    (not streaming), where `before:3`, `after:3` (journal writes), `in:save_note:1` (inside a
    call), `request:2`; after a `+`, where the process that resumes the run dies in turn."""
    mode, _, wheres = text.partition(".")
    first, _, second = wheres.partition("+")
    options = {"streaming": mode == "streaming", **_where(first)}
    if second:
        options["again"] = _where(second)
    return options


def _where(text: str) -> dict[str, Any]:
    kind, _, rest = text.partition(":")
    if kind in ("before", "after"):
        return {"kill": (kind, int(rest))}
    if kind == "in":
        name, _, n = rest.partition(":")
        return {"kill_in": (name, int(n))}
    if kind == "request":
        return {"kill_on_request": int(rest)}
    if kind:
        raise ValueError(f"unknown kill point {text!r}")
    return {}


async def run_to(job: dict[str, Any], point: str, run_id: str) -> None:
    """Run the scenario as `run_id`, dying at `point` (if there is such a point in it)."""
    options = _point(point)
    _crash.KILL_IN = options.get("kill_in")
    _crash.reset_counts()
    journal = _crash.KillingJournal(open_journal(job["journal"]), options.get("kill"))
    agent = _crash.make_agent(
        job["sim"],
        journal,
        streaming=options["streaming"],
        kill_on_request=options.get("kill_on_request"),
    )
    try:
        await agent.run(_crash.PROMPT, run_id=run_id)
    finally:
        await _crash.close(agent)
        await journal.aclose()


async def resume_to(job: dict[str, Any], point: str, run_id: str) -> None:
    """Resume the killed run `run_id`, dying at the second place `point` names."""
    options = _point(point)
    _crash.KILL_IN = options["again"].get("kill_in")
    _crash.reset_counts()
    journal = _crash.KillingJournal(open_journal(job["journal"]), options["again"].get("kill"))
    agent = _crash.make_agent(
        job["sim"],
        journal,
        streaming=options["streaming"],
        kill_on_request=options["again"].get("kill_on_request"),
    )
    try:
        await agent.resume(run_id)
    finally:
        await _crash.close(agent)
        await journal.aclose()


async def look(job: dict[str, Any], run_id: str) -> tuple[_crash.Committed, list[_crash.Effect]]:
    """What the journal and the effect log hold of a run now."""
    journal = open_journal(job["journal"])
    try:
        return await _crash.committed(journal, run_id), _crash.effects(run_id)
    finally:
        await journal.aclose()


async def resume_killed(
    job: dict[str, Any],
    point: str,
    killed: int,
    first: tuple[int, _crash.Committed, list[_crash.Effect]] | None = None,
) -> _crash.Outcome:
    """Resume the run killed at `point` in this process; what was there before, and after."""
    run_id = job["prefix"] + point
    journal = open_journal(job["journal"])
    agent = _crash.make_agent(job["sim"], journal, streaming=_point(point)["streaming"])
    try:
        before = await _crash.committed(journal, run_id)
        effects_before = _crash.effects(run_id)
        not_found = False
        try:
            result = await agent.resume(run_id)
        except RunNotFound:  # killed before its first record: nothing to resume
            not_found = True
            result = await agent.run(_crash.PROMPT, run_id=run_id)
        info = await journal.info(run_id)
        effects_after = _crash.effects(run_id)
        requests = _crash.REQUESTS[0]
        again = await agent.run(_crash.PROMPT, run_id=run_id)
        requests_again = _crash.REQUESTS[0] - requests
    finally:
        await _crash.close(agent)
        await journal.aclose()
    for message in [*result.messages, *again.messages]:  # what pickle cannot carry
        for answer in getattr(message, "results", ()):
            answer.exception = None
    return _crash.Outcome(
        point, killed, before, effects_before, not_found, result, effects_after,
        info.status if info else None, again, requests_again, first,
    )  # fmt: skip


def _forked(work: Callable[[], None]) -> int:
    """Run `work` in a forked process; its pid (it exits 0, or 1 with a traceback)."""
    pid = os.fork()
    if pid:
        return pid
    code = 0
    try:
        work()
    except BaseException:
        traceback.print_exc()
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _wait(pid: int) -> int:
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


def _kill_and_resume(job: dict[str, Any], point: str) -> None:
    run_id = job["prefix"] + point
    killed = _wait(_forked(lambda: asyncio.run(run_to(job, point, run_id))))
    if not job.get("resume", True):
        return
    first = None
    if "again" in _point(point):  # a resume that dies too, before the one that finishes
        left, effects = asyncio.run(look(job, run_id))
        first = (killed, left, effects)
        killed = _wait(_forked(lambda: asyncio.run(resume_to(job, point, run_id))))
    outcome = asyncio.run(resume_killed(job, point, killed, first))
    path = _crash.effects_path(run_id).with_suffix(".outcome")
    path.write_bytes(pickle.dumps(outcome))


def sweep(job: dict[str, Any]) -> dict[str, int]:
    """Every kill point's pipeline, `parallel` at a time; each one's exit code."""
    asyncio.run(run_to({**job, "journal": "memory"}, "streaming.", "warm-up"))  # lazy imports,
    open_journal(job["journal"])  # and the store's (psycopg), here once for every fork
    waiting = list(job["points"])
    running: dict[int, str] = {}
    codes: dict[str, int] = {}
    while waiting or running:
        while waiting and len(running) < job["parallel"]:
            point = waiting.pop(0)
            running[_forked(functools.partial(_kill_and_resume, job, point))] = point
        pid, status = os.wait()
        codes[running.pop(pid)] = os.waitstatus_to_exitcode(status)
    return codes


async def resume(job: dict[str, Any]) -> tuple[dict[str, Any], int]:
    if job.get("block"):
        name, n = job["block"]
        _crash.BLOCK_IN = (name, n)
    journal = open_journal(job["journal"])
    agent = _crash.make_agent(job["sim"], journal, streaming=job.get("streaming", True))
    try:
        result = await agent.resume(job["run_id"])
    except RunHeld as exc:
        return {"held": exc.info.owner}, 3
    finally:
        await _crash.close(agent)
        await journal.aclose()
    return {"status": result.status, "output": result.output}, 0


def main() -> None:
    mode = sys.argv[1]
    job = json.loads(sys.argv[2])
    _crash.EFFECTS_DIR = Path(job["effects"])
    if mode == "sweep":
        print(json.dumps(sweep(job)))
    elif mode == "resume":
        said, code = asyncio.run(resume(job))
        print(json.dumps(said))
        sys.stdout.flush()
        os._exit(code)
    else:
        raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    main()
