"""What the subcommands share: their one-line error, and the argument types argparse checks."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

__all__ = ["CommandError", "check_writable", "positive_int", "time_scale"]


class CommandError(Exception):
    """What the command prints as one `error:` line (never a traceback) before it exits.

    Args:
        message: the line, saying what was wrong and, where it helps, what to do.
        status: the exit status (2: bad usage or setup, as argparse's; 1: the work failed).
    """

    def __init__(self, message: str, status: int = 2) -> None:
        super().__init__(message)
        self.status = status


def time_scale(text: str) -> float:
    """`--scale`: real seconds per simulated second, a positive finite number."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(
            f"must be a positive, finite number of seconds, e.g. 0.02 (got {text!r})"
        )
    return value


def positive_int(text: str) -> int:
    """A whole number of at least 1 (`--max-turns`)."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1 (got {text!r})")
    return value


def check_writable(path: Path, option: str) -> None:
    """That a file can be written at `path`: its folder exists, and it is not itself a folder.

    Raises:
        CommandError: naming the option and the folder that is missing.
    """
    folder = path.parent
    if path.is_dir():
        raise CommandError(f"{option} {path}: is a folder; name a file in it")
    if not folder.is_dir():
        what = "is not a folder" if folder.exists() else "does not exist"
        raise CommandError(f"{option} {path}: the folder {folder} {what}; create it first")
