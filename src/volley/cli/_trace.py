"""`volley trace`: a recorded run's timeline, in the terminal or as one HTML page."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape

__all__ = ["add_parser"]


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "trace",
        help="show a recorded run's timeline",
        description="Show the timeline of a run recorded with `volley run --trace FILE`.",
    )
    parser.add_argument("file", type=Path, help="a trace file (JSON Lines)")
    parser.add_argument(
        "--html", type=Path, metavar="OUT", help="write one self-contained HTML page instead"
    )
    parser.set_defaults(handler=trace_command)


def trace_command(args: argparse.Namespace, console: Console) -> int:
    from ..trace import TraceError, load_trace, timeline, write_html

    try:
        trace = load_trace(args.file)
    except (OSError, TraceError) as exc:
        console.print(f"[red]error:[/] {escape(str(exc))}")
        return 1
    if args.html is not None:
        write_html(trace, args.html)
        console.print(f"wrote {args.html}")
        return 0
    console.print(timeline(trace))
    return 0
