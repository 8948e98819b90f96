"""The Ray benchmark's agent runs: one process against `AgentPool` with one worker and with two."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

from volley import RunResult
from volley.ray import AgentPool
from volley.sim import parse_scenario

from ._harness import Report, compare, ms, stopwatch, times
from ._ray_setup import (
    ANSWER,
    PROMPT,
    SCENARIO,
    SIM_SCRIPT,
    Sizes,
    Where,
    agent_and_client,
    pinned,
    run_agent,
)

# -- agent runs -------------------------------------------------------------------------------


@contextlib.contextmanager
def _simulator() -> Iterator[str]:
    """The simulator in a process of its own; its base URL."""
    parse_scenario(SCENARIO)  # a mistake in it shows here, not as a process that never starts
    with subprocess.Popen(
        [sys.executable, "-c", SIM_SCRIPT, SCENARIO],
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
    agent, client = agent_and_client(base_url)
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


async def run_rows(report: Report, sizes: Sizes, where: Where) -> None:
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
                worker_options={"scheduling_strategy": pinned(where)},
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
