"""Run the benchmarks and print their tables; see `python -m benchmarks --help`."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time

from rich.console import Console

from . import BENCHMARKS, overhead
from ._harness import Report, show, show_summary, to_json


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description="Benchmark volley against its baselines."
    )
    parser.add_argument(
        "names", nargs="*", metavar="NAME", help=f"run only these of: {', '.join(BENCHMARKS)}"
    )
    parser.add_argument("--quick", action="store_true", help="small sizes, few rounds: a smoke run")
    parser.add_argument(
        "--json",
        action="store_true",
        help="print the results as JSON on stdout (tables go to stderr)",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="print a cProfile of volley's per-call overhead, then exit",
    )
    args = parser.parse_args(argv)
    unknown = [name for name in args.names if name not in BENCHMARKS]
    if unknown:
        parser.error(
            f"no benchmark named {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}"
        )
    console = Console(stderr=args.json)
    if not console.is_terminal:
        console.width = 132  # room for the widest table when the output goes to a file
    if args.profile:
        console.print(asyncio.run(overhead.profile(1_000 if args.quick else 10_000)), markup=False)
        return 0
    started = time.perf_counter()
    reports: list[Report] = []
    for name in args.names or BENCHMARKS:
        report = asyncio.run(BENCHMARKS[name](args.quick))
        show(console, report)
        reports.append(report)
    seconds = time.perf_counter() - started
    show_summary(console, reports, seconds)
    if args.json:
        print(to_json(reports, seconds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
