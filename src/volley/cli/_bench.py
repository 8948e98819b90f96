"""`volley bench`: the tutorials' timing tables reproduced, then volley's own rows."""

from __future__ import annotations

from typing import Any

__all__ = ["add_parser"]


def add_parser(commands: Any) -> None:
    from ..bench import SEEDS_AND_OWN
    from ..bench._main import add_arguments, run_benchmarks

    parser = commands.add_parser(
        "bench",
        help="reproduce the tutorials' timing tables and measure volley's own",
        description=(
            "Measure what tutorials on parallel tool calling claim (N calls of D seconds, one by "
            "one and in parallel; round trips and tokens; the 'seeds' benchmark) next to their "
            "figures, then volley's own: streaming dispatch, the eager DAG against waves, "
            "conflict scheduling against sequential."
        ),
    )
    add_arguments(parser, default=SEEDS_AND_OWN)
    parser.set_defaults(handler=run_benchmarks)
