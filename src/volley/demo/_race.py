"""The seeds' way of running a turn's calls, kept as the baseline the race is measured against.

The seeds run every call of a turn with `asyncio.gather(*[execute_tool(...)])`, dispatching to
the tool function by name, async or not. Given "create R-1042, then mark it shipped" in one turn,
the create waits on the validation service while the update runs at once, finds no record and
fails; the create then stores the record as a draft. Nothing crashes: the final state is just
wrong. This module replays the calls a model actually sent, turn by turn, in exactly that way, so
the demo can read the outcome back from SQLite next to volley's. (A model that sent the two calls
in separate turns gives the naive loop nothing to race on, and the replay shows that too.)
"""

from __future__ import annotations

import asyncio
import inspect
import json
from collections.abc import Mapping, Sequence
from typing import Any

from .. import ModelTurn, RunResult, Tool, ToolCall
from ._report import NaiveCall

__all__ = ["batches", "naive_gather"]


def batches(result: RunResult) -> tuple[tuple[ToolCall, ...], ...]:
    """The calls of each turn of a run that made any, in order."""
    return tuple(tuple(m.calls) for m in result.messages if isinstance(m, ModelTurn) and m.calls)


async def naive_gather(
    tools: Mapping[str, Tool[..., Any]], turns: Sequence[Sequence[ToolCall]]
) -> tuple[NaiveCall, ...]:
    """Run each turn's calls as the seeds do: all at once, in no order, errors caught per call."""
    finished: list[ToolCall] = []

    async def execute_tool(call: ToolCall) -> str:
        arguments = call.arguments
        if isinstance(arguments, str):
            arguments = json.loads(arguments)
        try:
            value = tools[call.name].fn(**arguments)
            if inspect.isawaitable(value):
                value = await value
            return str(value)
        finally:
            finished.append(call)

    outcomes: list[tuple[ToolCall, str | BaseException]] = []
    for calls in turns:
        results = await asyncio.gather(*map(execute_tool, calls), return_exceptions=True)
        outcomes += zip(calls, results, strict=True)
    return tuple(
        NaiveCall(
            name=call.name,
            outcome=f"{type(o).__name__}: {o}" if isinstance(o, BaseException) else o,
            is_error=isinstance(o, BaseException),
            finished=finished.index(call) + 1,
        )
        for call, o in outcomes
    )
