"""15. Hedged reads: a turn's p50 and p99 over heavy-tailed reads, with and without hedging.

A turn is a few reads at once, so it takes as long as its slowest read: with 1% of reads
straggling at 20 times the median, about one turn in twenty holds a straggler, and the p99 turn
is a straggler's time. Hedging starts a second attempt of a read that has not answered after a
delay (a percentile of the tool's recent latencies, or a fixed time); each variant sees the same
first attempts (drawn once), so the rows differ by hedging alone. Turns run many at a time, every
variant in the same event loop at once, so a loaded machine slows all of them alike.
"""

from __future__ import annotations

import asyncio
import gc
import math
import random
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from volley import Executor, ToolCall, ToolResult, tool

from ._harness import Goal, Report, ms

SEED = 1907
READS = 5
"""Reads per turn."""
SIGMA = 0.5
"""The spread of a read's latency (lognormal): its p95 is 2.3 times its median, its p99 3.2."""
STRAGGLERS = 0.01
SLOW = 20.0
"""A straggler takes this many times what the read would have taken."""
MEDIAN = 1.0
"""A read's median latency, in simulated seconds."""
SCALE = 0.02
"""Real seconds per simulated second (`--scale`): a read's median is 20 ms."""
FIXED = 2.5
"""The fixed delay of one variant, in simulated seconds (about the reads' p96)."""
MAX_HEDGES = 4
"""The executor's default cap of hedges per batch (per turn)."""
GOAL_P99 = 1 / 3
GOAL_EXTRA = 5.0
MAIN = "p97"
"""The variant the goals are about: p95 hedges about 5% of reads by its very definition, which
sits on the goal's line of extra calls; p97 cuts the p99 as much for fewer."""


@dataclass(frozen=True, slots=True)
class Sizes:
    turns: int
    """Timed turns per variant."""
    warmup: int
    """Untimed turns first: a percentile needs 20 latencies before a tool hedges."""
    in_flight: int
    """Turns running at once, per variant."""


FULL = Sizes(turns=2_000, warmup=40, in_flight=8)
QUICK = Sizes(turns=300, warmup=20, in_flight=16)


def latency(rng: random.Random) -> float:
    """One attempt's latency in simulated seconds: lognormal, 1% of them straggling."""
    seconds = MEDIAN * rng.lognormvariate(0.0, SIGMA)
    return seconds * SLOW if rng.random() < STRAGGLERS else seconds


@dataclass(slots=True)
class Outcome:
    """One variant's turns: their times, and what the reads did."""

    key: str
    label: str
    times: list[float] = field(default_factory=list)
    calls: int = 0
    bodies: int = 0
    """Read bodies started (first attempts and hedges)."""
    attempts: int = 0
    """What the results say was started."""
    hedges: int = 0
    most_hedges: int = 0
    """The most hedges one turn started."""
    in_order: bool = True
    failed: int = 0
    left_running: int = 0


class Reads:
    """The read tool of one variant, with the latencies it plays and what its bodies did.

    A read's first attempt takes the latency drawn for it once for every variant; any later
    attempt (a hedge, another replica) draws one of its own.
    """

    def __init__(
        self, hedge_after: float | str | None, first: Sequence[Sequence[float]], scale: float
    ) -> None:
        self.first = first
        self.scale = scale
        self.rng = random.Random(SEED + 1)
        self.seen: Counter[tuple[int, int]] = Counter()
        self.running = 0

        async def read(turn: int, index: int) -> int:
            """One record, from whichever replica answers."""
            key = (turn, index)
            later = self.seen[key]
            self.seen[key] += 1
            seconds = self.first[turn][index] if not later else latency(self.rng)
            self.running += 1
            try:
                await asyncio.sleep(seconds * self.scale)
            finally:
                self.running -= 1
            return index

        self.tool = tool(read, effects="read", hedge_after=hedge_after, timeout=None)


async def run_variant(
    key: str,
    label: str,
    hedge_after: float | str | None,
    first: Sequence[Sequence[float]],
    sizes: Sizes,
    scale: float,
) -> Outcome:
    """Play the variant's turns, `in_flight` at a time: warm-up first, then the timed ones."""
    reads = Reads(hedge_after, first, scale)
    outcome = Outcome(key, label)
    async with Executor([reads.tool], max_concurrency=100_000, max_hedges=MAX_HEDGES) as ex:

        async def play(turn: int) -> tuple[float, list[ToolResult]]:
            calls = [ToolCall(f"r{i}", "read", {"turn": turn, "index": i}) for i in range(READS)]
            start = time.perf_counter()
            results = await ex.run(calls)
            return time.perf_counter() - start, results

        async def turns(numbers: range, timed: bool) -> None:
            gate = asyncio.Semaphore(sizes.in_flight)

            async def one(turn: int) -> None:
                async with gate:
                    seconds, results = await play(turn)
                if timed:
                    outcome.times.append(seconds)
                    outcome.calls += len(results)
                    outcome.attempts += sum(r.attempts for r in results)
                    hedges = sum(r.hedges for r in results)
                    outcome.hedges += hedges
                    outcome.most_hedges = max(outcome.most_hedges, hedges)
                    outcome.failed += sum(r.is_error for r in results)
                    outcome.in_order &= [r.value for r in results] == list(range(READS))

            await asyncio.gather(*(one(turn) for turn in numbers))

        await turns(range(sizes.warmup), timed=False)
        before = sum(reads.seen.values())
        await turns(range(sizes.warmup, sizes.warmup + sizes.turns), timed=True)
        outcome.bodies = sum(reads.seen.values()) - before
    outcome.left_running = reads.running
    return outcome


def percentile(values: Sequence[float], q: float) -> float:
    """The `q`-th percentile, nearest rank."""
    ordered = sorted(values)
    rank = math.ceil(q / 100 * len(ordered))
    return ordered[min(len(ordered), max(1, rank)) - 1]


async def run(quick: bool = False, scale: float = SCALE) -> Report:
    sizes = QUICK if quick else FULL
    rng = random.Random(SEED)
    total = sizes.warmup + sizes.turns
    first = [[latency(rng) for _ in range(READS)] for _ in range(total)]
    fixed = FIXED * MEDIAN * scale
    variants: list[tuple[str, str, float | str | None]] = [
        ("none", "none", None),
        ("p95", "'p95'", "p95"),
        ("p97", "'p97'", "p97"),
        ("fixed", f"{fixed:g} ({FIXED:g}x median)", fixed),
    ]
    # A pass of the cycle collector stalls every turn in flight for tens of milliseconds: it
    # would pose as a straggler that no hedge can beat (it stalls both attempts), so it waits.
    gc.collect()
    gc.freeze()
    gc.disable()
    try:
        outcomes = await asyncio.gather(
            *(run_variant(key, label, after, first, sizes, scale) for key, label, after in variants)
        )
    finally:
        gc.enable()
        gc.unfreeze()
    none = outcomes[0]
    report = Report(
        key="hedge",
        title=(
            f"15. Hedged reads: turns of {READS} reads, lognormal (sigma {SIGMA:g}), "
            f"{STRAGGLERS:.0%} at {SLOW:g}x; {sizes.turns:,} turns per row, "
            f"median read {ms(MEDIAN * scale)}"
        ),
        columns=["hedge_after", "p50 turn", "p99 turn", "p99 / none", "extra calls", "hedges"],
    )
    p99_none = percentile(none.times, 99)
    for outcome in outcomes:
        key = outcome.key
        p50, p99 = percentile(outcome.times, 50), percentile(outcome.times, 99)
        extra = 100 * (outcome.bodies - outcome.calls) / outcome.calls
        ratio = p99 / p99_none
        cells = [ms(p50), ms(p99), f"{ratio:.3f}x", f"{extra:.2f}%", f"{outcome.hedges:,}"]
        report.rows.append([outcome.label, *cells])
        report.figures[f"p50_s_{key}"] = p50
        report.figures[f"p99_s_{key}"] = p99
        report.figures[f"p99_vs_none_{key}"] = ratio
        report.figures[f"extra_calls_pct_{key}"] = extra
        report.figures[f"hedges_{key}"] = outcome.hedges
    main = f"hedge_after='{MAIN}'"
    report.goals += [
        Goal(f"p99 turn with {main} / without", report.figures[f"p99_vs_none_{MAIN}"], GOAL_P99),
        Goal(f"extra calls with {main} (%)", report.figures[f"extra_calls_pct_{MAIN}"], GOAL_EXTRA),
    ]
    report.notes.append(
        f"each row plays the same first attempts; a hedge draws its own latency; at most "
        f"{MAX_HEDGES} hedges per turn (the default max_hedges); {sizes.in_flight} turns at a "
        "time per row, every row at once; the cycle collector waits until the turns are done"
    )
    report.notes.append(
        "extra calls: read bodies started beyond one per call, over the calls (a hedge that "
        "loses is cancelled, but it was started)"
    )
    report.notes.append(
        "p50 barely moves: only reads slower than the delay are hedged, the p99 turn is the one "
        "a straggler held"
    )
    report.check(
        "every read answered, in order",
        all(not o.failed and o.in_order for o in outcomes),
    )
    report.check(
        "the results count every body started (attempts, hedges)",
        all(o.attempts == o.bodies and o.hedges == o.bodies - o.calls for o in outcomes),
    )
    report.check(
        f"at most {MAX_HEDGES} hedges per turn, none without hedging",
        all(o.most_hedges <= MAX_HEDGES for o in outcomes) and none.hedges == 0,
    )
    report.check("no attempt left running", all(o.left_running == 0 for o in outcomes))
    return report
