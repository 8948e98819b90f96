"""1. Fan-out: many independent 50 ms async calls, volley against a raw asyncio.gather."""

from __future__ import annotations

import asyncio

from volley import Executor, Toolbox, ToolCall, ToolResult, tool

from ._harness import Goal, Report, compare, ms, stopwatch, times

SLEEP = 0.05


async def wait() -> None:
    await asyncio.sleep(SLEEP)


TOOLBOX = Toolbox([tool(wait)])


async def run(quick: bool = False) -> Report:
    n, rounds = (200, 3) if quick else (1_000, 9)
    calls = [ToolCall(f"call_{i}", "wait") for i in range(n)]
    results: list[ToolResult] = []

    async def volley() -> float:
        # A fresh executor per sample, warmed up outside the timed region.
        async with Executor(TOOLBOX, max_concurrency=n) as ex:
            await ex.run(calls[:10])

            async def run_volley() -> None:
                results[:] = await ex.run(calls)

            return await stopwatch(run_volley)

    async def gather() -> float:
        return await stopwatch(lambda: asyncio.gather(*(wait() for _ in range(n))))

    timings = await compare({"volley": volley, "gather": gather}, rounds=rounds)
    ratio = timings.ratio("volley", "gather")
    report = Report(
        key="fanout",
        title=f"1. {n:,} independent async calls of {ms(SLEEP)} ({rounds} rounds, interleaved)",
        columns=["runner", "median wall", "best wall", "efficiency", "wall / gather wall"],
    )
    for name, vs_gather in (("gather", 1.0), ("volley", ratio)):
        median = timings.median(name)
        efficiency = SLEEP / median
        report.rows.append(
            [name, ms(median), ms(timings.best(name)), f"{efficiency:.1%}", times(vs_gather)]
        )
        report.figures[f"{name} wall s"] = median
        report.figures[f"{name} efficiency"] = efficiency
    report.figures["volley / gather"] = ratio
    report.goals.append(Goal("volley wall / gather wall", ratio, 1.10))
    report.notes.append(
        f"efficiency: the ideal {ms(SLEEP)} over the median wall time; "
        "ratios are medians of per-round ratios"
    )
    report.check(
        "every volley call succeeded", len(results) == n and not any(r.is_error for r in results)
    )
    return report
