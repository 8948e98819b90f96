"""What the Ray benchmark runs on: its sizes, its tools and agent (in a module Ray's workers can
import), and its cluster (two nodes started here, or one given).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ray
import ray.util
from anthropic import AsyncAnthropic
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from volley import Agent, tool
from volley.providers.anthropic import AnthropicProvider

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


def spin(n: int) -> int:
    """A pure-Python loop of `n` steps (it holds the GIL throughout)."""
    total = 0
    for i in range(n):
        total = (total + i * i) % 1_000_003
    return total


@tool(effects="read", timeout=None)
def crunch(n: int) -> list[int]:
    """Spin a pure-Python loop n times; the pid it ran in, and a checksum."""
    return [os.getpid(), spin(n)]


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

SIM_SCRIPT = """
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
    return agent_and_client(base_url)[0]


def agent_and_client(base_url: str) -> tuple[Agent, AsyncAnthropic]:
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
def cluster(address: str | None) -> Iterator[Where]:
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


def pinned(where: Where) -> Any:
    return NodeAffinitySchedulingStrategy(node_id=where.pin, soft=False)
