"""What every benchmark's quick run must give: finite figures, goals and passing checks."""

from __future__ import annotations

import asyncio
import math
from typing import Any

from volley.bench import load

HEAVY = ("journal", "frameworks", "mcp", "ray", "hedge", "plans")
"""Benchmarks whose quick run takes seconds (servers, clusters): each in a test file of its own,
so the test workers share them out."""


def quick_report(name: str) -> Any:
    """Run a benchmark's quick mode and check its report; return it."""
    report = asyncio.run(load(name)(True))
    assert report.key == name
    assert report.goals
    assert all(math.isfinite(goal.value) and goal.value > 0 for goal in report.goals)
    assert report.figures
    assert all(math.isfinite(value) for value in report.figures.values())
    assert report.checks
    assert all(report.checks.values())
    assert report.rows
    assert all(len(row) == len(report.columns) for row in report.rows)
    return report
