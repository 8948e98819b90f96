"""3. Random DAGs: wall time over the critical path, volley against waves and sequential."""

from __future__ import annotations

import asyncio
import random
import statistics
from dataclasses import dataclass

from volley import Executor, Toolbox, ToolCall, ToolResult, tool

from ._baselines import WaveExecutor, longest_path, run_hand_wired
from ._harness import Goal, Report, Timings, compare, ms, stopwatch, times

SEED = 2024
LIMIT = 1.05
RATIOS = ("volley", "hand-wired", "waves", "waves ideal", "sequential")
"""The columns of wall time over the critical path."""


async def work(seconds: float) -> None:
    await asyncio.sleep(seconds)


TOOLBOX = Toolbox([tool(work)])


@dataclass(frozen=True, slots=True)
class Dag:
    """Calls 0..n-1 with their durations; each depends only on lower-numbered calls."""

    durations: tuple[float, ...]
    deps: tuple[tuple[int, ...], ...]

    @classmethod
    def draw(cls, rng: random.Random, sizes: tuple[int, int]) -> Dag:
        n = rng.randint(*sizes)
        density = rng.uniform(0.03, 0.15)
        durations = tuple(rng.uniform(0.010, 0.060) for _ in range(n))
        deps = tuple(tuple(i for i in range(j) if rng.random() < density) for j in range(n))
        return cls(durations, deps)

    @property
    def edges(self) -> int:
        return sum(map(len, self.deps))

    def critical_path(self) -> float:
        return longest_path(self.durations, self.deps)

    def wave_bound(self) -> float:
        """What wave-by-wave takes with zero overhead: the slowest call of each wave, summed."""
        level: list[int] = []
        for deps in self.deps:
            level.append(1 + max((level[i] for i in deps), default=-1))
        slowest: dict[int, float] = {}
        for lvl, duration in zip(level, self.durations, strict=True):
            slowest[lvl] = max(slowest.get(lvl, 0.0), duration)
        return sum(slowest.values())

    def calls(self) -> list[ToolCall]:
        return [
            ToolCall(f"c{j}", "work", {"seconds": d}, depends_on=tuple(f"c{i}" for i in deps))
            for j, (d, deps) in enumerate(zip(self.durations, self.deps, strict=True))
        ]


def respects_dependencies(calls: list[ToolCall], results: list[ToolResult]) -> bool:
    by_id = {r.call_id: r for r in results}
    for call in calls:
        started = by_id[call.id].started_at
        if by_id[call.id].is_error or started is None:
            return False
        for dep in call.depends_on:
            ended = by_id[dep].ended_at
            if ended is None or ended > started:
                return False
    return True


@dataclass(frozen=True, slots=True)
class Measured:
    timings: Timings
    sequential: float
    own_critical_path: float
    in_order: bool


async def measure(ex: Executor, dag: Dag, *, rounds: int, warmup: int) -> Measured:
    calls = dag.calls()
    waves = WaveExecutor(TOOLBOX)
    bodies = [lambda d=d: work(d) for d in dag.durations]
    results: list[ToolResult] = []
    own_cp: list[float] = []

    async def volley() -> float:
        batch = ex.batch()

        async def submit_and_close() -> None:
            for call in calls:
                batch.submit(call)
            results[:] = await batch.close()

        seconds = await stopwatch(submit_and_close)
        own_cp.append(batch.stats.critical_path)
        return seconds

    async def hand_wired() -> float:
        return await stopwatch(lambda: run_hand_wired(bodies, dag.deps))

    async def wave() -> float:
        return await stopwatch(lambda: waves.run(calls))

    async def one_by_one() -> None:
        for seconds in dag.durations:
            await work(seconds)

    timings = await compare(
        {"volley": volley, "hand-wired": hand_wired, "waves": wave}, rounds=rounds, warmup=warmup
    )
    sequential = await stopwatch(one_by_one)
    in_order = respects_dependencies(calls, results)
    return Measured(timings, sequential, statistics.median(own_cp), in_order)


async def run(quick: bool = False) -> Report:
    graphs, rounds, sizes = (2, 2, (8, 15)) if quick else (6, 3, (30, 60))
    rng = random.Random(SEED)
    dags = [Dag.draw(rng, sizes) for _ in range(graphs)]
    report = Report(
        key="dag",
        title=f"3. Random DAGs: wall / critical path ({graphs} graphs, {rounds} rounds each)",
        columns=["graph", "calls", "edges", "crit. path", *RATIOS, "waves/volley", "volley's c.p."],
    )
    ratios: dict[str, list[float]] = {name: [] for name in RATIOS}
    in_order = True
    async with Executor(TOOLBOX, max_concurrency=max(sizes)) as ex:
        for number, dag in enumerate(dags, 1):
            got = await measure(ex, dag, rounds=rounds, warmup=1 if number == 1 else 0)
            in_order = in_order and got.in_order
            cp = dag.critical_path()
            for name in ("volley", "hand-wired", "waves"):
                ratios[name].append(got.timings.median(name) / cp)
            ratios["waves ideal"].append(dag.wave_bound() / cp)
            ratios["sequential"].append(got.sequential / cp)
            report.rows.append(
                [
                    f"#{number}",
                    str(len(dag.durations)),
                    str(dag.edges),
                    ms(cp),
                    *(times(ratios[name][-1]) for name in RATIOS),
                    times(got.timings.ratio("waves", "volley")),
                    ms(got.own_critical_path),
                ]
            )
    means = {name: statistics.fmean(values) for name, values in ratios.items()}
    report.rows.append(["mean", "", "", "", *(times(means[name]) for name in RATIOS), "", ""])
    worst = max(ratios["volley"])
    report.goals.append(Goal("volley wall / critical path (worst graph)", worst, LIMIT))
    report.figures.update({f"{name} / critical path, mean": v for name, v in means.items()})
    report.figures["volley / critical path, worst"] = worst
    report.notes += [
        "each cell is a median wall time / the critical path of the drawn durations and edges",
        "hand-wired: one task per call awaiting exactly its predecessors (the ideal, no checks)",
        "waves ideal: the waves' slowest calls summed (zero overhead); sequential ran once",
    ]
    report.check("volley started every call after its dependencies ended", in_order)
    return report
