"""11. Ray: tool bodies on a cluster (`RayBackend`), many agent runs over workers (`AgentPool`).

Three parts, each timing its variants side by side, interleaved round by round (`compare`):

- CPU-bound tools: N sync calls of a pure-Python loop (t each) in one batch: in this process
  (threads: the GIL holds them to one core), through `RayBackend` with every call pinned to one
  node (`NodeAffinitySchedulingStrategy`), and through `RayBackend` over the whole cluster
  (`"SPREAD"`: Ray's default packs calls of tens of milliseconds onto the local node). The
  wall time against the ideal, ceil(N / CPUs) x t: N x t in process, N x t / nodes on the
  local cluster, t being one call alone in process, timed in every round beside the batches.
- Agent runs per second against the simulator (`SimServer` in a process of its own, answering
  at once: three turns, six calls of no-op tools a run): one process (`asyncio.gather` over one
  agent's runs) against `AgentPool` with one worker (pinned to one node) and with two (one per
  node, by a custom resource each node has one of), the same number of runs at a time in all
  three.
- What a call costs: a no-op tool, sync (a Ray task) and async (its actor), one call alone and
  calls in a batch, through `RayBackend` against in process.

The calls of a batch are alike, and each runs (`dedupe=False`: volley would otherwise run one
and share its result).

The cluster is two nodes of one CPU each, started on this machine (`ray.cluster_utils.Cluster`
on its own address, Ray's files in a folder of its own, usage stats off; stopped at the end by
the cluster itself, never `ray stop`). `volley bench ray --ray ADDRESS` measures against a
running cluster instead; its agent-run part needs every node on this host (the simulator
listens on loopback), and is skipped otherwise.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any

from volley import Executor, Tool, ToolCall, ToolResult
from volley.ray import RayBackend

from ._harness import Goal, Report, compare, ms, stopwatch, times
from ._ray_runs import run_rows
from ._ray_setup import (
    CLUSTER,
    FULL,
    IN_PROCESS,
    ONE_CALL,
    ONE_NODE,
    QUICK,
    WORTH_IT_MS,
    Sizes,
    Where,
    cluster,
    crunch,
    noop_async,
    noop_sync,
    pinned,
    spin,
)

# -- CPU-bound tools --------------------------------------------------------------------------


def _steps_for(seconds: float) -> int:
    """Loop steps for a call of about `seconds` here (from the fastest of three timings)."""
    n = 20_000
    while True:
        took = min(_timed(n) for _ in range(3))
        if took >= 0.02:
            return max(1, int(n * seconds / took))
        n *= 2


def _timed(n: int) -> float:
    started = time.perf_counter()
    spin(n)
    return time.perf_counter() - started


def _batch(
    executor: Executor, calls: list[ToolCall], pids: set[int] | None
) -> Callable[[], Awaitable[float]]:
    """A sample: the calls in one batch; the pids they ran in go to `pids`."""

    async def sample() -> float:
        box: list[list[ToolResult]] = []

        async def once() -> None:
            box.append(await executor.run(calls))

        seconds = await stopwatch(once)
        for result in box[0]:
            if result.is_error:
                raise RuntimeError(f"{result.name} failed: {result.content}")
            if pids is not None:
                value = result.value
                pids.add(value[0] if isinstance(value, list) else value)
        return seconds

    return sample


async def _cpu_rows(report: Report, sizes: Sizes, where: Where) -> None:
    steps = _steps_for(sizes.cpu_seconds)
    n = sizes.cpu_calls
    calls = [ToolCall(f"c{i}", "crunch", {"n": steps}) for i in range(n)]
    slots = {IN_PROCESS: 1, ONE_NODE: where.pin_cpus, CLUSTER: where.cpus}
    names = {
        IN_PROCESS: "in process (threads)",
        ONE_NODE: "RayBackend, 1 node",
        CLUSTER: f"RayBackend, {where.nodes} nodes",
    }
    pids: dict[str, set[int]] = {name: set() for name in slots}
    pin = {"crunch": {"scheduling_strategy": pinned(where)}}
    async with contextlib.AsyncExitStack() as stack:
        one = stack.enter_context(RayBackend(options=pin))
        every = stack.enter_context(
            RayBackend(options={"crunch": {"scheduling_strategy": "SPREAD"}})
        )
        executors = {
            IN_PROCESS: await stack.enter_async_context(
                Executor([crunch], timeout=None, dedupe=False)
            ),
            ONE_NODE: await stack.enter_async_context(
                Executor([crunch], timeout=None, dedupe=False, backend=one)
            ),
            CLUSTER: await stack.enter_async_context(
                Executor([crunch], timeout=None, dedupe=False, backend=every)
            ),
        }
        variants = {name: _batch(ex, calls, pids[name]) for name, ex in executors.items()}
        variants[ONE_CALL] = _batch(executors[IN_PROCESS], calls[:1], None)
        timings = await compare(variants, rounds=sizes.cpu_rounds, warmup=1)
    t = timings.median(ONE_CALL)
    me = os.getpid()
    report.check("in process, every CPU call ran in this process", pids[IN_PROCESS] == {me})
    report.check(
        "through RayBackend, no CPU call ran in this process",
        me not in pids[ONE_NODE] | pids[CLUSTER],
    )
    if where.cpus >= 2:
        report.check(
            "over the cluster, the CPU calls ran in more than one worker", len(pids[CLUSTER]) >= 2
        )
    what = f"{n} CPU calls of {ms(t)}"
    report.figures["cpu_call_s"] = t
    for key, name in names.items():
        stages = math.ceil(n / slots[key])
        ideal = stages * t
        wall = timings.median(key)
        vs_ideal = timings.ratio(key, ONE_CALL) / stages
        vs_in_process = timings.ratio(key, IN_PROCESS)
        report.rows.append(
            [
                what if key == IN_PROCESS else "",
                name,
                ms(wall),
                f"ideal {ms(ideal)}",
                times(vs_ideal),
                times(vs_in_process),
            ]
        )
        tag = key.replace(" ", "_")
        report.figures[f"cpu_wall_s_{tag}"] = wall
        report.figures[f"cpu_vs_ideal_{tag}"] = vs_ideal
        report.figures[f"cpu_vs_in_process_{tag}"] = vs_in_process
    best = math.ceil(n / where.cpus) / n  # the ideal wall of the cluster, over in process's
    report.goals.append(
        Goal(
            f"CPU calls over {where.nodes} nodes vs ideal",
            report.figures["cpu_vs_ideal_cluster"],
            1.25,
        )
    )
    report.goals.append(
        Goal(
            f"CPU calls over {where.nodes} nodes vs in process",
            report.figures["cpu_vs_in_process_cluster"],
            round(1.2 * best, 3),
        )
    )


# -- what a call costs ------------------------------------------------------------------------


def _alone(executor: Executor, call: ToolCall, count: int) -> Callable[[], Awaitable[float]]:
    """A sample: `count` calls, each in a batch of its own, one after another."""

    async def sample() -> float:
        async def once() -> None:
            for _ in range(count):
                (result,) = await executor.run([call])
                if result.is_error:
                    raise RuntimeError(f"{result.name} failed: {result.content}")

        return await stopwatch(once)

    return sample


async def _cost_rows(report: Report, sizes: Sizes) -> float:
    """The no-op rows; returns what Ray adds to a sync call in a batch, in seconds."""
    tools: list[Tool[..., Any]] = [noop_sync, noop_async]
    variants: dict[str, Callable[[], Awaitable[float]]] = {}
    per_call: dict[str, int] = {}
    async with contextlib.AsyncExitStack() as stack:
        backend = stack.enter_context(RayBackend())
        executors = {
            IN_PROCESS: await stack.enter_async_context(
                Executor(tools, timeout=None, dedupe=False)
            ),
            "ray": await stack.enter_async_context(
                Executor(tools, timeout=None, dedupe=False, backend=backend)
            ),
        }
        for kind in ("sync", "async"):
            name = f"noop_{kind}"
            for side, ex in executors.items():
                batch = [ToolCall(f"n{i}", name) for i in range(sizes.noop_batch)]
                variants[f"{kind} alone {side}"] = _alone(ex, ToolCall("n", name), sizes.noop_alone)
                variants[f"{kind} batch {side}"] = _batch(ex, batch, None)
                per_call[f"{kind} alone {side}"] = sizes.noop_alone
                per_call[f"{kind} batch {side}"] = sizes.noop_batch
        timings = await compare(variants, rounds=sizes.noop_rounds, warmup=1)
    added = 0.0
    for kind, body in (("sync", "a Ray task"), ("async", "its actor")):
        for mode, label in (
            ("alone", "one call alone"),
            ("batch", f"a batch of {sizes.noop_batch}"),
        ):
            base = f"{kind} {mode} {IN_PROCESS}"
            ray_key = f"{kind} {mode} ray"
            here = timings.median(base) / per_call[base]
            there = timings.median(ray_key) / per_call[ray_key]
            ratio = timings.ratio(ray_key, base)
            title = f"no-op {kind} call, {label}"
            report.rows.append([title, IN_PROCESS, "", f"{_ms(here)} a call", "", "1.000x"])
            report.rows.append(
                [
                    "",
                    f"RayBackend ({body})",
                    "",
                    f"{_ms(there)} a call (+{_ms(there - here)})",
                    "",
                    times(ratio),
                ]
            )
            tag = f"{kind}_{mode}"
            report.figures[f"noop_s_in_process_{tag}"] = here
            report.figures[f"noop_s_ray_{tag}"] = there
            report.figures[f"noop_added_s_{tag}"] = there - here
            if (kind, mode) == ("sync", "batch"):
                added = there - here
    report.goals.append(Goal("no-op sync call through RayBackend in a batch, ms", added * 1e3, 2.0))
    return added


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:,.2f} ms"


# -- the report -------------------------------------------------------------------------------


async def run(quick: bool = False, address: str | None = None) -> Report:
    sizes = QUICK if quick else FULL
    report = Report(
        key="ray",
        title=(
            f"11. Ray: {sizes.cpu_calls} CPU-bound calls, {sizes.runs} agent runs, no-op calls; "
            "in process against RayBackend and AgentPool"
        ),
        columns=["what", "where", "wall", "per call / throughput", "vs ideal", "vs in process"],
    )
    started = time.perf_counter()
    with cluster(address) as where:
        if where.start_seconds is not None:
            report.figures["cluster_start_s"] = where.start_seconds
        phases = [time.perf_counter()]
        added = await _cost_rows(report, sizes)
        phases.append(time.perf_counter())
        await _cpu_rows(report, sizes, where)
        phases.append(time.perf_counter())
        await run_rows(report, sizes, where)
        phases.append(time.perf_counter())
    start = "" if where.start_seconds is None else f", up in {where.start_seconds:.1f} s"
    report.notes.append(f"Ray: {where.label} ({where.cpus} CPUs{start})")
    report.notes.append(
        "1 node: the same cluster, every call (or the pool's worker) pinned to one node, so that "
        "all variants interleave round by round; vs in process: median of per-round wall ratios"
    )
    report.notes.append(
        f"Ray adds {_ms(added)} to a call in a batch: it is worth it for tool bodies above "
        f"~{WORTH_IT_MS:g} ms of CPU, where that is a tenth of the body or less and the bodies "
        "spread over every CPU of the cluster instead of this process's one (the GIL); cheaper "
        "calls are cheaper kept local (RayBackend(local={...}))"
    )
    took = [f"{b - a:.1f} s" for a, b in itertools.pairwise(phases)]
    pools = report.figures.get("pool_start_s", 0.0)
    report.notes.append(
        f"{time.perf_counter() - started:.1f} s in all: no-op calls {took[0]}, CPU calls "
        f"{took[1]}, agent runs {took[2]} (of which the pools' start {pools:.1f} s)"
    )
    return report
