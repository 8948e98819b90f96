"""The hedge benchmark's quick mode runs, yields finite figures, and its checks hold.

Speed is never asserted: the p99s and their ratio are the benchmark's to print as goals. What
holds on any machine is asserted: a row without hedging starts no extra call, a row with it
starts exactly one extra body per hedge, and no turn spends more hedges than the cap.
"""

from _bench_checks import quick_report


def test_quick_run_reports_p50_p99_and_extra_calls_for_each_setting() -> None:
    report = quick_report("hedge")
    figures = report.figures
    assert figures["extra_calls_pct_none"] == 0.0
    assert figures["hedges_none"] == 0
    for key in ("p95", "p97", "fixed"):
        assert 0 < figures[f"p50_s_{key}"] <= figures[f"p99_s_{key}"]
        assert figures[f"extra_calls_pct_{key}"] >= 0
    assert [row[0] for row in report.rows] == ["none", "'p95'", "'p97'", "0.05 (2.5x median)"]
    assert [goal.label for goal in report.goals] == [
        "p99 turn with hedge_after='p97' / without",
        "extra calls with hedge_after='p97' (%)",
    ]
