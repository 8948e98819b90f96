"""`volley trace`: a recorded run's timeline, in the terminal or as one HTML page."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from rich.console import Console

from ._common import CommandError, check_writable

__all__ = ["add_parser"]


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "trace",
        help="show a recorded run's timeline",
        description="Show the timeline of a run recorded with `volley run --trace FILE`.",
    )
    parser.add_argument("file", type=Path, help="a trace file (JSON Lines)")
    parser.add_argument(
        "--html",
        type=Path,
        metavar="OUT",
        help="write one self-contained HTML page instead (its folder must exist)",
    )
    parser.set_defaults(handler=trace_command)


def trace_command(args: argparse.Namespace, console: Console) -> int:
    from ..trace import TraceError, load_trace, timeline, write_html

    path: Path = args.file
    if not path.exists():
        raise CommandError(f"{path}: no such trace file")
    if path.is_dir():
        raise CommandError(f"{path}: is a folder, not a trace file (JSON Lines)")
    if args.html is not None:
        check_writable(args.html, "--html")
    try:
        trace = load_trace(path)
    except OSError as exc:
        raise CommandError(f"{path}: cannot read it: {exc.strerror or exc}") from exc
    except TraceError as exc:
        raise CommandError(str(exc), status=1) from exc
    if args.html is not None:
        try:
            write_html(trace, args.html)
        except OSError as exc:
            raise CommandError(f"--html {args.html}: cannot write it: {exc.strerror}") from exc
        console.print(f"wrote {args.html}", highlight=False)
        return 0
    console.print(timeline(trace))
    return 0
