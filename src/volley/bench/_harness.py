"""Shared helpers: interleaved timing rounds, results, and the tables that show them."""

from __future__ import annotations

import gc
import json
import math
import statistics
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from rich.console import Console
from rich.table import Table

Sample = Callable[[], Awaitable[float]]
"""Runs the measured thing once and returns the seconds its timed region took."""


async def stopwatch(work: Callable[[], Awaitable[Any]]) -> float:
    """Call `work` and await what it returns; return how long both took, in seconds.

    `work` is called inside the timed region, so that nothing (creating tasks, submitting to
    threads) happens before the clock starts.
    """
    start = time.perf_counter()
    await work()
    return time.perf_counter() - start


@dataclass(frozen=True, slots=True)
class Timings:
    """Seconds per round for each variant; round `r` of every variant ran back to back."""

    samples: dict[str, list[float]]

    def median(self, name: str) -> float:
        return statistics.median(self.samples[name])

    def best(self, name: str) -> float:
        return min(self.samples[name])

    def ratio(self, name: str, baseline: str) -> float:
        """Median over rounds of `name / baseline`, each pair timed in the same round."""
        pairs = zip(self.samples[name], self.samples[baseline], strict=True)
        return statistics.median(a / b for a, b in pairs)


async def compare(variants: Mapping[str, Sample], *, rounds: int, warmup: int = 1) -> Timings:
    """Time every variant `rounds` times, interleaved, after `warmup` untimed rounds.

    Each round runs all variants back to back, and who goes first rotates from round to round,
    so that drift on a noisy machine hits every variant alike.
    """
    names = list(variants)
    for _ in range(warmup):
        for name in names:
            await variants[name]()
    samples: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        shift = r % len(names)
        for name in names[shift:] + names[:shift]:
            gc.collect()
            samples[name].append(await variants[name]())
    return Timings(samples)


@dataclass(frozen=True, slots=True)
class Goal:
    """A measured ratio and the most it may be."""

    label: str
    value: float
    limit: float

    @property
    def passed(self) -> bool:
        return math.isfinite(self.value) and self.value <= self.limit


@dataclass(slots=True)
class Report:
    """What one benchmark found: a table for people, figures for programs."""

    key: str
    title: str
    columns: list[str]
    rows: list[list[str]] = field(default_factory=list)
    goals: list[Goal] = field(default_factory=list)
    checks: dict[str, bool] = field(default_factory=dict)
    """Correctness checks; a benchmark raises before returning if one fails."""
    notes: list[str] = field(default_factory=list)
    figures: dict[str, float] = field(default_factory=dict)
    """Every ratio and time worth keeping, by name, for `--json`."""

    def check(self, name: str, ok: bool) -> None:
        """Record a correctness check, and stop the benchmark if it failed."""
        self.checks[name] = ok
        if not ok:
            raise AssertionError(f"{self.key}: correctness check failed: {name}")

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for goal, item in zip(self.goals, data["goals"], strict=True):
            item["passed"] = goal.passed
        del data["columns"], data["rows"]
        return data


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:,.1f} ms"


def us(seconds: float) -> str:
    return f"{seconds * 1e6:,.2f} µs"


def times(ratio: float) -> str:
    return f"{ratio:.3f}x"


def verdict(goal: Goal) -> str:
    return "[bold green]PASS[/]" if goal.passed else "[bold red]MISS[/]"


def show(console: Console, report: Report) -> None:
    table = Table(title=report.title, title_justify="left", title_style="bold")
    for index, column in enumerate(report.columns):
        table.add_column(column, justify="left" if index == 0 else "right")
    for row in report.rows:
        table.add_row(*row)
    console.print(table)
    for goal in report.goals:
        console.print(
            f"  goal: {goal.label} <= {goal.limit:g}   measured: {goal.value:.3f}   {verdict(goal)}"
        )
    for name, ok in report.checks.items():
        console.print(f"  check: {name}: {'ok' if ok else 'FAILED'}")
    for note in report.notes:
        console.print(f"  [dim]{note}[/]")
    console.print()


def show_summary(console: Console, reports: Sequence[Report], seconds: float) -> None:
    table = Table(title="Summary", title_justify="left", title_style="bold")
    for column in ("benchmark", "goal", "measured", ""):
        table.add_column(column)
    for report in reports:
        for goal in report.goals:
            limit = f"{goal.label} <= {goal.limit:g}"
            table.add_row(report.key, limit, f"{goal.value:.3f}", verdict(goal))
    console.print(table)
    console.print(f"[dim]{len(reports)} benchmarks in {seconds:.1f} s[/]")


def to_json(reports: Sequence[Report], seconds: float) -> str:
    return json.dumps(
        {"seconds": round(seconds, 3), "benchmarks": [r.as_dict() for r in reports]}, indent=2
    )
