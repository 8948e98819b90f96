"""The benchmarks' command line, shared by `volley bench` and `python -m benchmarks`."""

from __future__ import annotations

import argparse
import asyncio
import functools
import time
from collections.abc import Sequence

from rich.console import Console
from rich.markup import escape

from ..cli._common import time_scale
from . import BENCHMARKS, load, unavailable
from ._harness import Report, show, show_summary, to_json

__all__ = ["add_arguments", "run_benchmarks"]


def add_arguments(parser: argparse.ArgumentParser, *, default: Sequence[str]) -> None:
    """The options both commands take; `default` is what runs when no name is given."""
    parser.add_argument(
        "names",
        nargs="*",
        metavar="NAME",
        help=f"run only these of: {', '.join(BENCHMARKS)} (default: {', '.join(default)})",
    )
    parser.add_argument("--quick", action="store_true", help="small sizes, few rounds: a smoke run")
    parser.add_argument(
        "--scale",
        type=time_scale,
        default=None,
        metavar="S",
        help="real seconds per simulated second, of the seeds benchmark's table (N calls of D "
        "seconds, from tutorials on parallel tool calling; default 0.02: 3 x 2 s runs in 0.12 s) "
        "and of the hedge benchmark (default 0.02: a read's median is 20 ms)",
    )
    parser.add_argument(
        "--ray",
        metavar="ADDRESS",
        help="the ray benchmark measures against this running Ray cluster (host:port, or auto: "
        "the one on this machine) instead of starting two nodes here",
    )
    parser.add_argument(
        "--json", action="store_true", help="print the results as JSON on stdout (tables: stderr)"
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="print a cProfile of volley's per-call overhead, then exit",
    )
    parser.set_defaults(default_names=tuple(default))


def run_benchmarks(args: argparse.Namespace, console: Console) -> int:
    """Run what `args` names, print each table as it completes, then the goals' summary."""
    unknown = [name for name in args.names if name not in BENCHMARKS]
    if unknown:
        return _fail(
            console, f"no benchmark named {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}"
        )
    names = ["overhead"] if args.profile else list(args.names or args.default_names)
    problem = unavailable(names)  # before anything runs, not halfway through
    if problem is not None:
        return _fail(console, problem)
    if not console.is_terminal:
        console.width = 132  # room for the widest table when the output goes to a file
    if args.profile:
        from . import overhead

        console.print(asyncio.run(overhead.profile(1_000 if args.quick else 10_000)), markup=False)
        return 0
    started = time.perf_counter()
    reports: list[Report] = []
    for name in names:
        run = load(name)
        if name in ("seeds", "hedge") and args.scale is not None:
            run = functools.partial(run, scale=args.scale)
        if name == "ray" and args.ray is not None:
            run = functools.partial(run, address=args.ray)
        report = asyncio.run(run(args.quick))
        show(console, report)
        reports.append(report)
    seconds = time.perf_counter() - started
    show_summary(console, reports, seconds)
    if args.json:
        print(to_json(reports, seconds))
    return 0


def _fail(console: Console, message: str) -> int:
    """One `error:` line, on the console the tables would have gone to; returns 2."""
    console.print(f"[red]error:[/] {escape(message)}", soft_wrap=True, highlight=False)
    return 2
