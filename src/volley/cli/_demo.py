"""`volley demo`: four tasks, one call per turn, parallel, and streamed, offline."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from rich.console import Console

from .._errors import ConfigurationError, RunError
from ._common import CommandError, time_scale

__all__ = ["add_parser"]


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "demo",
        help="run the offline demo (a simulated model, real local tools)",
        description=(
            "Start a simulated model and real local tool backends on loopback, run four tasks "
            "three ways (one call per turn, parallel, parallel with streaming dispatch), and "
            "show round trips, tokens, time and timelines."
        ),
    )
    parser.add_argument(
        "--provider",
        choices=("anthropic", "openai", "gemini"),
        help="run the scenarios against a real provider (needs its API key) instead",
    )
    parser.add_argument(
        "--scale",
        type=time_scale,
        default=None,
        metavar="S",
        help="real seconds per simulated second (default 0.3 offline: the demo in about 16 s; "
        "1 with --provider, where it scales the tools' latency only)",
    )
    parser.set_defaults(handler=demo_command)


def demo_command(args: argparse.Namespace, console: Console) -> int:
    from ..demo import DemoUnavailable, run_demo

    try:
        asyncio.run(run_demo(console, provider=args.provider, time_scale=args.scale))
    except DemoUnavailable as exc:  # no API key, or the provider's SDK is missing
        raise CommandError(str(exc)) from exc
    except (ConfigurationError, ImportError):
        raise
    except Exception as exc:
        if args.provider is None:  # offline, nothing should fail: show where it did
            raise
        # A real provider refused, or could not be reached, once its SDK's retries were spent.
        what = exc if isinstance(exc, RunError) else f"{type(exc).__name__}: {exc}"
        raise CommandError(f"the demo against {args.provider} stopped: {what}", 1) from exc
    return 0
