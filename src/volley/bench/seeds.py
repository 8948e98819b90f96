"""0. The seeds' latency table, measured: N tool calls of D seconds, one by one and at once.

The tutorials volley started from claim that 3 calls of 2 s take 6 s one by one and 2 s in
parallel, 5 of 3 s take 15 s and 3 s, 10 of 1 s take 10 s and 1 s. Here the same calls run
sequentially (await one after the other), with the seeds' naive `asyncio.gather`, and through
volley's executor, with time scaled down (`scale`) so the table takes a second; the figures are
shown back at full scale, next to the claims.
"""

from __future__ import annotations

import asyncio

from volley import Executor, ToolCall, ToolResult, tool

from ._harness import Goal, Report, Timings, compare, stopwatch, times

CLAIMS = ((3, 2.0, 6.0, 2.0), (5, 3.0, 15.0, 3.0), (10, 1.0, 10.0, 1.0))
"""(calls, seconds each, sequential, parallel) as the seeds state them."""
SCALE = 0.02
"""Real seconds per claimed second: 3 x 2 s runs as 3 x 40 ms."""


async def run(quick: bool = False, scale: float = SCALE) -> Report:
    rounds = 2 if quick else 5
    report = Report(
        key="seeds",
        title=f"0. The seeds' table: N calls of D s (time x{scale:g}, shown at full scale)",
        columns=[
            "calls",
            "seeds: sequential",
            "measured",
            "seeds: parallel",
            "gather",
            "volley",
            "volley / claim",
            "speed-up",
        ],
    )
    for calls, seconds, claim_sequential, claim_parallel in CLAIMS[:1] if quick else CLAIMS:
        timings, results = await _measure(calls, seconds * scale, rounds)
        full = {name: timings.median(name) / scale for name in ("sequential", "gather", "volley")}
        vs_claim = full["volley"] / claim_parallel
        speedup = timings.ratio("sequential", "volley")
        label = f"{calls} x {seconds:g} s"
        report.rows.append(
            [
                label,
                f"{claim_sequential:g} s",
                f"{full['sequential']:.2f} s",
                f"{claim_parallel:g} s",
                f"{full['gather']:.2f} s",
                f"{full['volley']:.2f} s",
                times(vs_claim),
                times(speedup),
            ]
        )
        report.figures[f"{label} volley s"] = full["volley"]
        report.figures[f"{label} speed-up"] = speedup
        report.goals.append(Goal(f"{label}: volley / the seeds' parallel", vs_claim, 1.10))
        report.check(
            f"{label}: every call answered",
            [r.content for r in results] == [f"result {i}" for i in range(calls)],
        )
    report.notes += [
        "measured: seconds at full scale (median wall / scale); speed-up: sequential over volley",
        "the seeds' figures are tool time only; model round trips are the `roundtrips` rows",
    ]
    return report


async def _measure(calls: int, delay: float, rounds: int) -> tuple[Timings, list[ToolResult]]:
    """Time `calls` calls of `delay` seconds: one by one, naive gather, volley."""

    @tool(effects="read")
    async def lookup(i: int) -> str:
        """Stands for a call to a slow service."""
        await asyncio.sleep(delay)
        return f"result {i}"

    batch = [ToolCall(f"c{i}", "lookup", {"i": i}) for i in range(calls)]
    results: list[ToolResult] = []

    async def sequential() -> float:
        async def one_by_one() -> None:
            for i in range(calls):
                await lookup.fn(i)

        return await stopwatch(one_by_one)

    async def gather() -> float:
        return await stopwatch(lambda: asyncio.gather(*(lookup.fn(i) for i in range(calls))))

    async def with_volley() -> float:
        async with Executor([lookup]) as ex:

            async def run_batch() -> None:
                results[:] = await ex.run(batch)

            return await stopwatch(run_batch)

    variants = {"sequential": sequential, "gather": gather, "volley": with_volley}
    return await compare(variants, rounds=rounds), results
