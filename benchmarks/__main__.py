"""Run every benchmark and print their tables; see `python -m benchmarks --help`."""

from __future__ import annotations

import argparse
import sys

from rich.console import Console

from volley.bench import BENCHMARKS
from volley.bench._main import add_arguments, run_benchmarks


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description="Benchmark volley against its baselines."
    )
    add_arguments(parser, default=BENCHMARKS)
    args = parser.parse_args(argv)
    return run_benchmarks(args, Console(stderr=args.json))


if __name__ == "__main__":
    sys.exit(main())
