"""The frameworks benchmark's quick mode runs, yields finite figures, and its checks hold."""

from _bench_checks import quick_report


def test_quick_run_gives_finite_ratios_and_passes_its_checks() -> None:
    quick_report("frameworks")
