"""The benchmarks' quick mode runs, yields finite figures, and its correctness checks hold.

Speed is never asserted here: the benchmarks print their goals, tests only check they work.
"""

import asyncio
import json
import math

import pytest

from benchmarks import BENCHMARKS
from benchmarks.__main__ import main


@pytest.mark.parametrize("name", list(BENCHMARKS))
def test_quick_run_gives_finite_ratios_and_passes_its_checks(name):
    report = asyncio.run(BENCHMARKS[name](True))

    assert report.key == name
    assert report.goals
    assert all(math.isfinite(goal.value) and goal.value > 0 for goal in report.goals)
    assert report.figures
    assert all(math.isfinite(value) for value in report.figures.values())
    assert report.checks
    assert all(report.checks.values())
    assert report.rows
    assert all(len(row) == len(report.columns) for row in report.rows)


def test_json_flag_prints_machine_readable_results(capsys):
    assert main(["--quick", "--json", "fanout"]) == 0

    out = capsys.readouterr()
    data = json.loads(out.out)
    (bench,) = data["benchmarks"]
    assert bench["key"] == "fanout"
    assert all(math.isfinite(goal["value"]) for goal in bench["goals"])
    assert {type(goal["passed"]) for goal in bench["goals"]} == {bool}
    assert "Summary" in out.err  # the tables go to stderr, leaving stdout to the JSON
