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

import asyncio
import contextlib
import functools
import itertools
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ray
import ray.util
from anthropic import AsyncAnthropic
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from volley import Agent, Executor, RunResult, Tool, ToolCall, ToolResult, tool
from volley.providers.anthropic import AnthropicProvider
from volley.ray import AgentPool, RayBackend
from volley.sim import parse_scenario

from ._harness import Goal, Report, compare, ms, stopwatch, times

# -- sizes ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Sizes:
    cpu_calls: int
    """CPU-bound calls in the batch."""
    cpu_seconds: float
    """What one of them takes, in this process."""
    cpu_rounds: int
    runs: int
    """Agent runs per sample."""
    at_once: int
    """Runs in flight at a time (over all workers)."""
    run_rounds: int
    noop_batch: int
    noop_alone: int
    """No-op calls made one after another, each alone."""
    noop_rounds: int


FULL = Sizes(
    cpu_calls=4,
    cpu_seconds=0.3,
    cpu_rounds=5,
    runs=400,
    at_once=64,
    run_rounds=3,
    noop_batch=500,
    noop_alone=100,
    noop_rounds=5,
)
QUICK = Sizes(
    cpu_calls=4,
    cpu_seconds=0.04,
    cpu_rounds=1,
    runs=24,
    at_once=12,
    run_rounds=1,
    noop_batch=40,
    noop_alone=8,
    noop_rounds=1,
)

IN_PROCESS = "in process"
ONE_NODE = "1 node"
CLUSTER = "cluster"
ONE_CALL = "one call"

PER_NODE = "volley_bench_node"
"""The custom resource each node of the cluster started here has one of."""

WORTH_IT_MS = 10.0
"""Above this much CPU per call, Ray's cost per call is a tenth of the body or less."""

# -- the tools --------------------------------------------------------------------------------


def _spin(n: int) -> int:
    """A pure-Python loop of `n` steps (it holds the GIL throughout)."""
    total = 0
    for i in range(n):
        total = (total + i * i) % 1_000_003
    return total


@tool(effects="read", timeout=None)
def crunch(n: int) -> list[int]:
    """Spin a pure-Python loop n times; the pid it ran in, and a checksum."""
    return [os.getpid(), _spin(n)]


@tool(effects="read", timeout=None)
def noop_sync() -> int:
    """Nothing; the pid it ran in."""
    return os.getpid()


@tool(effects="read", timeout=None)
async def noop_async() -> int:
    """Nothing; the pid it ran in."""
    return os.getpid()


@tool(effects="read", timeout=None)
async def lookup(topic: str) -> str:
    """Look a topic up (at once)."""
    return f"about {topic}"


@tool(writes=lambda a: [f"note:{a['name']}"], timeout=None)
async def save(name: str, text: str) -> str:
    """Save a note (at once)."""
    return f"saved {name}"


SCENARIO = json.dumps(
    {
        "turns": [
            {
                "text": "Looking.",
                "calls": [
                    {"name": "lookup", "arguments": {"topic": "alpha"}},
                    {"name": "lookup", "arguments": {"topic": "beta"}},
                    {"name": "lookup", "arguments": {"topic": "gamma"}},
                    {"name": "save", "arguments": {"name": "n1", "text": "first"}},
                ],
            },
            {
                "calls": [
                    {"name": "lookup", "arguments": {"topic": "delta"}},
                    {"name": "save", "arguments": {"name": "n2", "text": "second"}},
                ],
            },
            {"text": "All saved."},
        ]
    }
)
"""Three turns: four calls (three reads and a write), then two, then the answer."""
PROMPT = "Look four topics up and save two notes."
ANSWER = "All saved."

_SIM = """
import asyncio, sys
from volley.sim import SimServer, parse_scenario

async def main():
    async with SimServer(parse_scenario(sys.argv[1]), time_scale=0) as sim:
        print(sim.base_url, flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)

asyncio.run(main())
"""
"""The simulator in a process of its own: prints its URL, serves until its stdin closes."""


def run_agent(base_url: str) -> Agent:
    """The agent of the runs (module-level: `AgentPool` pickles it, and calls it in a worker)."""
    return _agent_and_client(base_url)[0]


def _agent_and_client(base_url: str) -> tuple[Agent, AsyncAnthropic]:
    client = AsyncAnthropic(base_url=base_url, api_key="sim", max_retries=0)
    return Agent(AnthropicProvider("claude-sim", client=client), [lookup, save]), client


# -- the cluster ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Where:
    """The cluster the Ray variants run on."""

    label: str
    cpus: int
    """CPUs of the whole cluster."""
    nodes: int
    pin: str
    """The node the one-node variants are pinned to."""
    pin_cpus: int
    local: bool
    """Every node is on this host (the simulator, on loopback, can be reached)."""
    start_seconds: float | None
    """How long starting the cluster took, when it was started here."""
    per_node: str | None = None
    """A custom resource each node has one of, when the cluster was started here: asking for it
    puts the workers of a pool on different nodes (Ray's SPREAD, the pool's default, may not)."""


def _where(
    label: str, start_seconds: float | None, pin: str | None = None, per_node: str | None = None
) -> Where:
    every: list[dict[str, Any]] = ray.nodes()  # type: ignore[no-untyped-call]
    nodes = [n for n in every if n["Alive"] and n["Resources"].get("CPU", 0) >= 1]
    if not nodes:
        raise RuntimeError(f"{label} has no node with a CPU")
    cpus = {n["NodeID"]: int(n["Resources"]["CPU"]) for n in nodes}
    if pin is None or pin not in cpus:
        here = ray.get_runtime_context().get_node_id()
        pin = here if here in cpus else str(nodes[0]["NodeID"])
    host = ray.util.get_node_ip_address()  # type: ignore[no-untyped-call]
    return Where(
        label=label,
        cpus=sum(cpus.values()),
        nodes=len(nodes),
        pin=pin,
        pin_cpus=cpus[pin],
        local=all(n["NodeManagerAddress"] in (host, "127.0.0.1") for n in nodes),
        start_seconds=start_seconds,
        per_node=per_node,
    )


@contextlib.contextmanager
def _cluster(address: str | None) -> Iterator[Where]:
    """Connect to Ray: to `address`, or to two nodes of one CPU started on this machine.

    A process already connected to Ray measures against that connection (and keeps it).
    """
    if ray.is_initialized():
        yield _where("the Ray cluster this process is connected to", None)
        return
    if address not in (None, "local"):
        ray.init(address=address, log_to_driver=False)
        try:
            yield _where(f"the Ray cluster at {address}", None)
        finally:
            ray.shutdown()
        return
    from ray.cluster_utils import Cluster

    root = Path(tempfile.mkdtemp(prefix="volley-ray-"))  # short: socket paths fit in 107 bytes
    env = {"HOME": str(root), "TMPDIR": str(root), "RAY_TMPDIR": str(root)}
    env["RAY_USAGE_STATS_ENABLED"] = "0"
    saved = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    cluster: Any = None
    started = time.perf_counter()
    try:
        one = {PER_NODE: 1}
        cluster = Cluster(
            initialize_head=True,
            head_node_args={"num_cpus": 1, "resources": one, "include_dashboard": False},
        )
        cluster.add_node(num_cpus=1, resources=one)
        cluster.wait_for_nodes()
        ray.init(address=cluster.address, log_to_driver=False)
        seconds = time.perf_counter() - started
        label = "2 nodes of 1 CPU each, started on this machine"
        yield _where(label, seconds, pin=cluster.head_node.node_id, per_node=PER_NODE)
    finally:
        ray.shutdown()
        if cluster is not None:
            cluster.shutdown()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        shutil.rmtree(root, ignore_errors=True)


def _pinned(where: Where) -> Any:
    return NodeAffinitySchedulingStrategy(node_id=where.pin, soft=False)


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
    _spin(n)
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
    pin = {"crunch": {"scheduling_strategy": _pinned(where)}}
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


# -- agent runs -------------------------------------------------------------------------------


@contextlib.contextmanager
def _simulator() -> Iterator[str]:
    """The simulator in a process of its own; its base URL."""
    parse_scenario(SCENARIO)  # a mistake in it shows here, not as a process that never starts
    with subprocess.Popen(
        [sys.executable, "-c", _SIM, SCENARIO],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as process:
        assert process.stdin is not None
        assert process.stdout is not None
        try:
            url = process.stdout.readline().strip()
            if not url.startswith("http://"):
                raise RuntimeError("the simulator did not start")
            yield url
        finally:
            process.stdin.close()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


def _finished(results: list[Any], count: int) -> None:
    """Every run ended with the scenario's answer after its three round trips."""
    if len(results) != count:
        raise RuntimeError(f"{len(results)} results for {count} runs")
    for result in results:
        if not isinstance(result, RunResult):
            raise RuntimeError(f"a run failed: {type(result).__name__}: {result}")
        if result.output != ANSWER or result.stats.round_trips != 3:
            raise RuntimeError(f"a run ended early: {result.output!r}")


@contextlib.asynccontextmanager
async def _one_process(
    base_url: str, sizes: Sizes
) -> AsyncIterator[Callable[[], Awaitable[float]]]:
    agent, client = _agent_and_client(base_url)
    async with client, agent:

        async def sample() -> float:
            room = asyncio.Semaphore(sizes.at_once)
            box: list[list[Any]] = []

            async def one() -> RunResult:
                async with room:
                    return await agent.run(PROMPT)

            async def everything() -> None:
                box.append(list(await asyncio.gather(*(one() for _ in range(sizes.runs)))))

            seconds = await stopwatch(everything)
            _finished(box[0], sizes.runs)
            return seconds

        yield sample


def _pool_sample(pool: Any, sizes: Sizes) -> Callable[[], Awaitable[float]]:
    async def sample() -> float:
        box: list[list[Any]] = []

        async def everything() -> None:
            box.append(await pool.run_many([PROMPT] * sizes.runs))

        seconds = await stopwatch(everything)
        _finished(box[0], sizes.runs)
        return seconds

    return sample


async def _run_rows(report: Report, sizes: Sizes, where: Where) -> None:
    what = f"{sizes.runs} agent runs, {sizes.at_once} at a time"
    if not where.local:
        report.rows.append([what, "skipped", "", "", "", ""])
        report.notes.append(
            "agent runs skipped: the cluster has nodes on other hosts, and the simulator "
            "listens on this host's loopback"
        )
        return
    with _simulator() as url:
        make = functools.partial(run_agent, url)
        async with contextlib.AsyncExitStack() as stack:
            started = time.perf_counter()
            apart = {} if where.per_node is None else {"resources": {where.per_node: 1}}
            pool2 = AgentPool(
                make,
                num_workers=2,
                max_runs_per_worker=max(1, sizes.at_once // 2),
                worker_options=apart,
            )
            stack.push_async_callback(pool2.close)
            pool1 = AgentPool(
                make,
                num_workers=1,
                max_runs_per_worker=sizes.at_once,
                worker_options={"scheduling_strategy": _pinned(where)},
            )
            stack.push_async_callback(pool1.close)
            await asyncio.gather(pool1.start(), pool2.start())
            pools_start = time.perf_counter() - started
            variants = {
                "one": await stack.enter_async_context(_one_process(url, sizes)),
                "pool1": _pool_sample(pool1, sizes),
                "pool2": _pool_sample(pool2, sizes),
            }
            timings = await compare(variants, rounds=sizes.run_rounds, warmup=1)
            workers = [info for info in pool2.workers if info is not None]
            me = os.getpid()
            report.check(
                "the pools' workers are processes of their own",
                all(info is not None and info.pid != me for info in pool1.workers + workers),
            )
    spread = len({w.node_id for w in workers})
    names = {
        "one": "one process (gather)",
        "pool1": "AgentPool, 1 worker (1 node)",
        "pool2": f"AgentPool, 2 workers ({spread} node{'s' if spread > 1 else ''})",
    }
    report.figures["pool_start_s"] = pools_start
    for key, name in names.items():
        wall = timings.median(key)
        rate = sizes.runs / wall
        ratio = timings.ratio(key, "one")
        report.rows.append(
            [what if key == "one" else "", name, ms(wall), f"{rate:,.0f} runs/s", "", times(ratio)]
        )
        report.figures[f"runs_per_s_{key}"] = rate
        report.figures[f"runs_vs_one_process_{key}"] = ratio


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
    with _cluster(address) as where:
        if where.start_seconds is not None:
            report.figures["cluster_start_s"] = where.start_seconds
        phases = [time.perf_counter()]
        added = await _cost_rows(report, sizes)
        phases.append(time.perf_counter())
        await _cpu_rows(report, sizes, where)
        phases.append(time.perf_counter())
        await _run_rows(report, sizes, where)
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
