"""The plan-mode benchmark's quick run: every mode takes its round trips and answers every call."""

from _bench_checks import quick_report


def test_quick_run_measures_every_mode_of_every_scenario() -> None:
    report = quick_report("plans")
    assert len(report.rows) == 16  # four scenarios, four ways of working
    trips = {(row[0], row[1]): int(row[2]) for row in report.rows}
    assert trips[("user, orders, statuses", "one call per turn")] == 6
    assert trips[("user, orders, statuses", "plan mode: one plan")] == 2
    for name, value in report.figures.items():
        assert 0 < value < 10, name
    assert [g.limit for g in report.goals] == [1 / 1.3, 1 / 1.3, 1.02]
