"""The journal benchmark's quick mode runs, yields finite figures, and its checks hold."""

from _bench_checks import quick_report


def test_quick_run_reports_commits_per_turn_and_records_per_second() -> None:
    figures = quick_report("journal").figures
    for store in ("sqlite_full", "sqlite_normal"):
        # Every turn ends with one commit at least: its results are on disk before the next request.
        assert figures[f"demo_commits_per_turn_{store}"] >= 1.0
        assert figures[f"many_records_per_s_{store}"] > 0
        assert figures[f"many_commits_per_s_{store}"] > 0
