"""`run_demo`: every scenario, three ways, against real local backends; then the race's baseline.

The runs of a scenario go one after another (never at once), so that each one's wall time is its
own; the race's record is deleted before each run, so that every way starts from nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
from collections.abc import Mapping
from typing import Any

from rich.console import Console

from .. import Agent, CallStarted, ModelTurn, RunEvent, RunResult, Tool, ToolCall, ToolReturns
from ..providers import Provider
from ._backends import Backends
from ._models import SIMULATED_MODEL, model_for, real_model
from ._progress import LiveProgress
from ._race import batches, naive_gather
from ._report import CallRecord, DemoReport, RaceReport, RunFigures, ScenarioReport, Way
from ._scenarios import INSTRUCTIONS, DemoScenario, RaceSpec, scenarios
from ._show import show_header, show_race, show_scenario, show_summary
from ._store import RecordState
from ._tools import make_tools

__all__ = ["DEFAULT_TIME_SCALE", "run_demo"]

DEFAULT_TIME_SCALE = 0.3
"""Real seconds per simulated second offline: the whole demo in about 16 s, shapes unchanged."""


async def run_demo(
    console: Console,
    *,
    provider: str | None = None,
    time_scale: float | None = None,
    live: bool = True,
) -> DemoReport:
    """Run the demo, printing it to `console`; returns every figure it printed.

    Args:
        console: where the live view and the results go.
        provider: `"anthropic"`, `"openai"` or `"gemini"` to send the prompts to a real model
            (its API key must be set); `None` for the simulated model, offline.
        time_scale: multiplies every simulated latency, the model's and the tools' (1.0: real
            time; a small value for tests). Default: `DEFAULT_TIME_SCALE` offline, 1.0 with a
            real provider (whose own latency cannot be scaled).
        live: show the live view of calls while the runs go (it shows only on a terminal).

    Raises:
        DemoUnavailable: a real provider was asked for, but its key (or its SDK) is missing.
        ValueError: `time_scale` is negative, infinite or nan.
    """
    if time_scale is not None and not (math.isfinite(time_scale) and time_scale >= 0):
        raise ValueError(f"time_scale must be a finite number >= 0, not {time_scale!r}")
    real = real_model(provider) if provider else None
    if time_scale is None:
        time_scale = DEFAULT_TIME_SCALE if real is None else 1.0
    model_name = real.name if real else f"anthropic:{SIMULATED_MODEL}"
    loop = asyncio.get_running_loop()
    began = loop.time()
    show_header(console, model_name, real is None, time_scale)
    reports: list[ScenarioReport] = []
    races: list[RaceReport] = []
    async with contextlib.AsyncExitStack() as stack:
        if real is not None:  # it made its own SDK client: close its connections at the end
            stack.push_async_callback(real.aclose)
        backends = await stack.enter_async_context(Backends(time_scale))
        tools = {t.name: t for t in make_tools(backends)}
        todo = scenarios(backends.base_url)
        with LiveProgress(console, enabled=live) as progress:
            for index, scenario in enumerate(todo, 1):
                progress.scenario(index, len(todo), scenario.title)
                async with model_for(scenario, real, time_scale) as model:
                    runs, states = await _run_scenario(model, tools, scenario, backends, progress)
                reports.append(ScenarioReport(scenario.key, scenario.title, scenario.prompt, runs))
                show_scenario(console, index, reports[-1], model_name)
                if scenario.race is not None:
                    races.append(await _race(backends, tools, scenario.race, runs, states))
                    show_race(console, races[-1])
        usage = backends.usage()
    report = DemoReport(
        model=model_name,
        simulated=real is None,
        time_scale=time_scale,
        scenarios=tuple(reports),
        race=races[0],
        backends=usage,
        wall_time=loop.time() - began,
    )
    show_summary(console, report)
    return report


async def _run_scenario(
    model: Provider,
    tools: Mapping[str, Tool[..., Any]],
    scenario: DemoScenario,
    backends: Backends,
    progress: LiveProgress,
) -> tuple[dict[Way, RunFigures], dict[Way, RecordState | None]]:
    """The scenario each way, in turn; for the race, the record's state after each."""
    runs: dict[Way, RunFigures] = {}
    states: dict[Way, RecordState | None] = {}
    for way in Way:
        if scenario.race:
            backends.store.delete(scenario.race.record_id)
        runs[way] = await _run_once(model, tools, scenario.prompt, way, progress)
        progress.finished(runs[way])
        if scenario.race:
            states[way] = backends.store.get(scenario.race.record_id)
    return runs, states


async def _run_once(
    model: Provider,
    tools: Mapping[str, Tool[..., Any]],
    prompt: str,
    way: Way,
    progress: LiveProgress,
) -> RunFigures:
    """One agent run, one way; its figures come from the run's own stats and events."""
    early = 0

    def count_early(event: RunEvent) -> None:
        nonlocal early
        if isinstance(event, CallStarted) and event.early:
            early += 1

    agent = Agent(
        model,
        tools.values(),
        instructions=INSTRUCTIONS,
        parallel=way.parallel,
        streaming=way.streaming,
        observers=[count_early, progress.run(way)],
    )
    result = await agent.run(prompt)
    stats = result.stats
    return RunFigures(
        way=way,
        round_trips=stats.round_trips,
        calls_per_turn=tuple(stats.calls_per_turn),
        wall_time=stats.wall_time,
        input_tokens=stats.input_tokens,
        output_tokens=stats.output_tokens,
        time_saved=stats.time_saved,
        early_dispatch_saved=stats.early_dispatch_saved,
        early_starts=early,
        output=result.output,
        calls=_call_records(result),
        result=result,
    )


def _call_records(result: RunResult) -> tuple[CallRecord, ...]:
    """Every call of the transcript with its result, in the order the model asked for them."""
    records: list[CallRecord] = []
    calls: tuple[ToolCall, ...] = ()
    for message in result.messages:
        if isinstance(message, ModelTurn):
            calls = message.calls
        elif isinstance(message, ToolReturns):
            for call, r in zip(calls, message.results, strict=True):
                records.append(CallRecord(call.name, _canonical(call), r.content, r.is_error))
    return tuple(records)


def _canonical(call: ToolCall) -> str:
    arguments = call.arguments
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments)
        except ValueError:
            return arguments
    return json.dumps(arguments, sort_keys=True, ensure_ascii=False)


async def _race(
    backends: Backends,
    tools: Mapping[str, Tool[..., Any]],
    race: RaceSpec,
    runs: Mapping[Way, RunFigures],
    states: Mapping[Way, RecordState | None],
) -> RaceReport:
    """Replay the parallel run's calls the seeds' way, turn by turn, on a fresh record."""
    turns = batches(runs[Way.PARALLEL].result)
    backends.store.delete(race.record_id)
    naive_calls = await naive_gather(tools, turns)
    return RaceReport(
        record_id=race.record_id,
        expected=race.expected,
        batched=any(len(calls) > 1 for calls in turns),
        naive=backends.store.get(race.record_id),
        naive_calls=naive_calls,
        volley=dict(states),
    )
