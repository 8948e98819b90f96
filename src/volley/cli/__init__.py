"""The `volley` command: `demo`, `bench`, `run`, `runs` and `trace`.

Each subcommand lives in its own module and imports what it needs only when it runs, so
`volley --help` works with no extra installed and a missing one is a one-line error.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from rich.console import Console
from rich.markup import escape

from .. import __version__
from .._errors import ConfigurationError
from ._common import CommandError

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 ok, 1 the run failed, 2 bad usage).

    What the user can get wrong (an argument, a file, a missing extra or API key) is one
    `error:` line on stderr, never a traceback.
    """
    parser = _parser()
    args = parser.parse_args(argv)
    console = Console(stderr=bool(getattr(args, "json", False)))
    try:
        status: int = args.handler(args, console)
    except CommandError as exc:
        return _fail(str(exc), exc.status)
    except ConfigurationError as exc:  # a model string, an API key
        return _fail(str(exc), 2)
    except ImportError as exc:  # a missing extra: its message names what to install
        return _fail(str(exc), 2)
    except KeyboardInterrupt:
        Console(stderr=True).print("[yellow]interrupted[/]")
        return 130
    return status


def _fail(message: str, status: int) -> int:
    """Print `message` as one `error:` line on stderr; returns `status`."""
    one_line = " ".join(message.split())
    Console(stderr=True).print(
        f"[red]error:[/] {escape(one_line)}", soft_wrap=True, highlight=False
    )
    return status


def _parser() -> argparse.ArgumentParser:
    from . import _bench, _demo, _run, _runs, _trace

    parser = argparse.ArgumentParser(
        prog="volley",
        description=(
            "Run an LLM's tool calls at the same time where that is safe, in order where it is not."
        ),
    )
    parser.add_argument("--version", action="version", version=f"volley {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (_demo, _bench, _run, _runs, _trace):
        module.add_parser(commands)
    return parser


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
