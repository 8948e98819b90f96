"""The demo's printed output, made only from the report's figures.

Per scenario: the prompt and the answer, the three ways' timelines right under each other (drawn
by `volley.trace`, compact: a whole run on one time axis, the three on one scale, so a run half as
long draws bars half as long), then the three ways side by side, so that a scenario's section ends
on its comparison; then the race's final states, and a summary of everything. What the timelines'
colours and markers mean is printed once, under the header.
"""

from __future__ import annotations

import itertools

from rich.console import Console, Group, RenderableType
from rich.markup import escape
from rich.panel import Panel
from rich.rule import Rule
from rich.table import Table
from rich.text import Text

from .. import RunResult
from ..trace import Trace, timeline_legend
from ..trace import timeline as trace_timeline
from ._report import DemoReport, RaceReport, ScenarioReport, Way
from ._store import RecordState

__all__ = ["calls_per_turn", "show_header", "show_race", "show_scenario", "show_summary"]

TIMES = "\N{MULTIPLICATION SIGN}"


def timeline(result: RunResult, model: str, title: str, until: float) -> RenderableType:
    """A run's compact timeline: every turn and call on one axis of at least `until` seconds."""
    trace = Trace.from_result(result, meta={"model": model})
    return trace_timeline(trace, compact=True, until=until, legend=False, title=title)


def show_header(console: Console, model: str, simulated: bool, time_scale: float) -> None:
    """What the demo is about to do, and how its times relate to real ones."""
    where = (
        f"a simulated model ([bold]{escape(model)}[/], through the official Anthropic SDK)"
        if simulated
        else f"[bold]{escape(model)}[/]"
    )
    scaled = "Every latency (the model's and the tools')" if simulated else "The tools' latency"
    clock = (
        f"{scaled} is scaled by [bold]x{time_scale:g}[/]: compare ratios rather than seconds."
        if time_scale != 1
        else "Latencies are real time."
    )
    console.print(Rule("[bold]volley demo[/]"))
    console.print(
        f"Each scenario runs three ways against {where}, with real tools on loopback: an HTTP "
        "service, a SQLite database and a folder of files. " + clock,
        highlight=False,
    )
    console.print(
        "Under each scenario, a timeline per way of running it, all three on one time scale: "
        "the model's turns (numbered) on the first line, then a line per call, labelled with "
        "its turn.",
        style="dim",
        highlight=False,
    )
    console.print(timeline_legend(compact=True))


def show_scenario(console: Console, index: int, scenario: ScenarioReport, model: str) -> None:
    """One scenario: its prompt, the answer, the ways' timelines on one scale, then a table."""
    console.print()
    console.print(Rule(f"[bold]{index}. {escape(scenario.title)}[/]", align="left"))
    answer = scenario.runs[Way.STREAMING].output
    console.print(f"[dim]prompt:[/] {escape(scenario.prompt)}", highlight=False)
    console.print(f"[dim]answer:[/] {escape(answer)}", highlight=False)
    until = max(run.wall_time for run in scenario.runs.values())
    for way, run in scenario.runs.items():
        console.print()
        console.print(timeline(run.result, model, way.label, until))
    console.print()
    console.print(_table(scenario))


def _table(scenario: ScenarioReport) -> Table:
    table = Table(show_edge=False, pad_edge=False)
    table.add_column("way", no_wrap=True)
    table.add_column("round trips", justify="right")
    table.add_column("calls/turn")
    table.add_column("wall", justify="right")
    table.add_column("input tokens", justify="right")
    table.add_column("early starts", justify="right")
    table.add_column("speed-up", justify="right")
    for way, run in scenario.runs.items():
        speed = scenario.speed_up(way)
        table.add_row(
            way.label,
            str(run.round_trips),
            calls_per_turn(run.calls_per_turn),
            f"{run.wall_time:.2f} s",
            f"{run.input_tokens:,}",
            str(run.early_starts) if way.streaming else "",
            Text(f"{speed:.2f}x", style="bold green" if speed > 1.05 else ""),
        )
    return table


def calls_per_turn(counts: tuple[int, ...]) -> str:
    """`1, 1, 1, 0` as `1 times 3, 0` (with a multiplication sign): eleven turns stay readable."""
    parts = []
    for count, group in itertools.groupby(counts):
        n = len(list(group))
        parts.append(f"{count}{TIMES}{n}" if n > 1 else str(count))
    return ", ".join(parts)


def show_race(console: Console, race: RaceReport) -> None:
    """The final state of the record each way, read back from SQLite, and whether it is right."""
    asked = {c.name for c in race.naive_calls}
    if {"create_record", "update_record"} <= asked:
        when = "in one turn" if race.batched else "over separate turns"
        intro = f"The model asked, {when}: create {race.record_id}, then set its status to"
    else:  # a real model may do something else entirely: say so rather than judge a race
        called = ", ".join(sorted(asked)) or "nothing"
        intro = (
            f"The model did not ask to create {race.record_id} and update it (it called: "
            f"{called}), so there was no race; the record should have ended with status"
        )
    lines: list[RenderableType] = [
        Text.from_markup(
            f"{escape(intro)} [bold]{escape(race.expected.status)}[/]. "
            "Final state read back from SQLite:"
        )
    ]
    grid = Table.grid(padding=(0, 2))
    grid.add_row("naive asyncio.gather", _state(race.naive), _verdict(race.naive_right))
    for way, state in race.volley.items():
        grid.add_row(f"volley, {way.label}", _state(state), _verdict(state == race.expected))
    lines.append(grid)
    if race.naive_calls:
        order = sorted(race.naive_calls, key=lambda c: c.finished)
        told = "; then ".join(f"{c.name} → {c.outcome}" for c in order)
        lines.append(Text(f"Under gather: {told}.", style="dim"))
    lines.append(
        Text(
            f"Both calls write record:{race.record_id}, so volley runs them in the order the "
            "model wrote them; calls on other records would still overlap.",
            style="dim",
        )
    )
    console.print(Panel(Group(*lines), title="the race", title_align="left"))


def _state(state: RecordState | None) -> str:
    if state is None:
        return "no record"
    return f"status {state.status!r}"


def _verdict(right: bool) -> Text:
    return Text("✓ right", style="bold green") if right else Text("✗ wrong", style="bold red")


def show_summary(console: Console, report: DemoReport) -> None:
    """Every scenario in one table, the backends' counts, and how long the demo took."""
    console.print()
    table = Table(
        title="Summary: one call per turn → parallel + streaming",
        title_justify="left",
        show_edge=False,
        pad_edge=False,
    )
    table.add_column("scenario", ratio=1)
    for name in ("round trips", "input tokens", "wall", "speed-up"):
        table.add_column(name, justify="right", no_wrap=True)
    for scenario in report.scenarios:
        one, best = scenario.runs[Way.ONE_AT_A_TIME], scenario.runs[Way.STREAMING]
        table.add_row(
            scenario.title,
            f"{one.round_trips} → {best.round_trips}",
            f"{one.input_tokens:,} → {best.input_tokens:,}",
            f"{one.wall_time:.2f} → {best.wall_time:.2f} s",
            f"{scenario.speed_up(Way.STREAMING):.2f}x",
        )
    console.print(table)
    used = report.backends
    requests = ", ".join(f"{name} {n}" for name, n in sorted(used.http_requests.items()))
    console.print(
        f"Backends really used: the HTTP service answered {sum(used.http_requests.values())} "
        f"requests ({requests}); {used.files_read} files read; {used.database_operations} "
        "SQLite operations. Its server, database and files are gone.",
        highlight=False,
    )
    console.print(f"The demo took {report.wall_time:.1f} s.", highlight=False)
