"""10. Durable runs: what a journal adds to a turn, and how many records it takes per second.

- The demo's four scenarios (weather, 5 pages, 10 files, create-then-update), each an `Agent`
  over the Anthropic SDK against the simulated model, with its real tools on loopback; every
  round runs them without a journal and with each journal, interleaved (`compare`). Per turn:
  the wall time a journal adds (ratio to no journal, goal under 5%), and its commits (syncs to
  disk), from `journal.commits`. SQLite with `synchronous=FULL` (the default) and `NORMAL`, and
  PostgreSQL when a throwaway server can be started here (`tests/_postgres.py`, Debian's
  binaries); otherwise its row says skipped.
- Throughput: 200 runs at once in one process, one agent and one journal, a scripted model
  (`FunctionProvider`) and no-op tools (per turn three reads and a write, three turns): journal
  records and commits per second, and the wall time against the same runs without a journal.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from volley import Agent, ModelTurn, Tool, ToolCall, UserPrompt, tool
from volley.demo._backends import Backends
from volley.demo._models import model_for
from volley.demo._scenarios import INSTRUCTIONS, DemoScenario, scenarios
from volley.demo._tools import make_tools
from volley.journal import Journal, open_journal
from volley.providers import FunctionProvider, ModelRequest, Provider

from ._harness import Goal, Report, compare, ms, stopwatch, times

LIMIT = 1.05
"""A journal may add at most 5% to a turn's wall time."""


@dataclass(frozen=True, slots=True)
class Sizes:
    time_scale: float
    rounds: int
    warmup: int
    runs: int
    """Concurrent runs for the throughput."""
    turns: int
    """Turns of each concurrent run (each with `calls` calls), then an answer."""
    calls: int


FULL = Sizes(time_scale=0.3, rounds=5, warmup=1, runs=200, turns=3, calls=4)
QUICK = Sizes(time_scale=0.02, rounds=1, warmup=0, runs=20, turns=2, calls=4)


@contextlib.contextmanager
def _postgres() -> Iterator[tuple[str | None, str]]:
    """A throwaway PostgreSQL server's URL, or `None` and why none can run here."""
    here = str(Path.cwd())
    if (Path(here) / "tests" / "_postgres.py").is_file() and here not in sys.path:
        sys.path.append(here)  # `volley bench` run from the project's folder, as `make bench` is
    try:
        importlib.import_module("psycopg")
        importlib.import_module("volley.journal._postgres")
        helper = importlib.import_module("tests._postgres")
    except ImportError as exc:
        yield None, f"PostgreSQL skipped: {exc}"
        return
    bin_dir = helper.find_bin()
    if bin_dir is None:
        yield None, "PostgreSQL skipped: its binaries are not installed"
        return
    server = helper.running_postgres(bin_dir)
    try:
        url = server.__enter__()
    except Exception as exc:
        yield None, f"PostgreSQL skipped: its server did not start ({exc})"
        return
    try:
        yield url, ""
    finally:
        server.__exit__(None, None, None)


@contextlib.asynccontextmanager
async def _journals(folder: Path, postgres: str | None) -> AsyncIterator[dict[str, Journal]]:
    """One open journal per store, named as its row is."""
    urls = {
        "SQLite FULL": f"sqlite:///{folder}/full.db",
        "SQLite NORMAL": f"sqlite:///{folder}/normal.db?synchronous=NORMAL",
    }
    if postgres is not None:
        urls["PostgreSQL"] = postgres
    async with contextlib.AsyncExitStack() as stack:
        journals: dict[str, Journal] = {}
        for name, url in urls.items():
            journals[name] = await stack.enter_async_context(open_journal(url))
        yield journals


# -- the demo's scenarios -----------------------------------------------------------------------


@dataclass
class Tally:
    """What the runs of one variant did: turns, commits."""

    turns: int = 0
    commits: int = 0
    runs: int = 0


async def _scenarios_sample(
    models: list[tuple[DemoScenario, Provider]],
    tools: list[Tool[..., Any]],
    backends: Backends,
    journal: Journal | None,
    tally: Tally,
) -> float:
    """Every scenario once, one after another; the seconds their runs took, in all."""
    total = 0.0
    for scenario, model in models:
        if scenario.race is not None:
            backends.store.delete(scenario.race.record_id)
        agent = Agent(model, tools, instructions=INSTRUCTIONS, journal=journal)
        before = journal.commits if journal is not None else 0
        box: list[Any] = []

        async def once(
            agent: Agent = agent, prompt: str = scenario.prompt, box: list[Any] = box
        ) -> None:
            box.append(await agent.run(prompt))

        total += await stopwatch(once)
        result = box[0]
        tally.turns += result.stats.round_trips
        tally.runs += 1
        if journal is not None:
            tally.commits += journal.commits - before
    return total


async def _demo_rows(report: Report, sizes: Sizes, journals: dict[str, Journal]) -> None:
    async with contextlib.AsyncExitStack() as stack:
        backends = await stack.enter_async_context(Backends(sizes.time_scale))
        tools = make_tools(backends)
        models = [
            (s, await stack.enter_async_context(model_for(s, None, sizes.time_scale)))
            for s in scenarios(backends.base_url)
        ]
        variants: dict[str, Callable[[], Awaitable[float]]] = {}
        tallies: dict[str, Tally] = {}
        for name, journal in {"no journal": None, **journals}.items():
            tally = tallies[name] = Tally()

            def sample(journal: Journal | None = journal, tally: Tally = tally) -> Awaitable[float]:
                return _scenarios_sample(models, tools, backends, journal, tally)

            variants[name] = sample
        timings = await compare(variants, rounds=sizes.rounds, warmup=sizes.warmup)
    base = tallies["no journal"]
    report.check("every run of the demo ended", all(t.runs for t in tallies.values()))
    report.check(
        "the same turns with and without a journal",
        all(t.turns * base.runs == base.turns * t.runs for t in tallies.values()),
    )
    turns_per_sample = base.turns / base.runs * len(models)
    for name in ("no journal", *journals):
        per_turn = timings.median(name) / turns_per_sample
        if name == "no journal":
            report.rows.append(["demo: " + name, ms(per_turn), "", "1.000x", "", ""])
            report.figures["demo_turn_s"] = per_turn
            continue
        ratio = timings.ratio(name, "no journal")
        added = per_turn - timings.median("no journal") / turns_per_sample
        commits = tallies[name].commits / tallies[name].turns
        key = name.lower().replace(" ", "_")
        report.rows.append(
            ["demo: " + name, ms(per_turn), ms(added), times(ratio), f"{commits:.2f}", ""]
        )
        report.figures[f"demo_ratio_{key}"] = ratio
        report.figures[f"demo_added_per_turn_s_{key}"] = added
        report.figures[f"demo_commits_per_turn_{key}"] = commits
        report.goals.append(Goal(f"demo turn with {name} vs none", ratio, LIMIT))


# -- many runs at once --------------------------------------------------------------------------


def _noop_tools() -> list[Tool[..., Any]]:
    @tool(effects="read", timeout=None)
    async def peek(i: int) -> int:
        """Read nothing."""
        return i

    @tool(writes=lambda a: [f"slot:{a['run']}"], timeout=None)
    async def poke(run: str, i: int) -> int:
        """Write nothing (declared as a write, so its start is on disk first)."""
        return i

    return [peek, poke]


def _scripted(sizes: Sizes) -> FunctionProvider:
    def respond(request: ModelRequest) -> ModelTurn:
        done = sum(isinstance(m, ModelTurn) for m in request.messages)
        if done >= sizes.turns:
            return ModelTurn(text="done")
        first = request.messages[0]
        run = first.text if isinstance(first, UserPrompt) else ""
        calls = [ToolCall(f"r{done}_{i}", "peek", {"i": i}) for i in range(sizes.calls - 1)]
        calls.append(ToolCall(f"w{done}", "poke", {"run": run, "i": done}))
        return ModelTurn(calls=tuple(calls), stop="tool_calls")

    return FunctionProvider(respond)


async def _many(sizes: Sizes, journal: Journal | None, tag: str) -> tuple[float, int, int]:
    """`sizes.runs` runs at once: (seconds, records appended, commits)."""
    agent = Agent(_scripted(sizes), _noop_tools(), journal=journal, batching_hint=False)
    ids = [f"{tag}-{n}" for n in range(sizes.runs)]
    before = journal.commits if journal is not None else 0

    async def everything() -> None:
        await asyncio.gather(*(agent.run(run_id, run_id=run_id) for run_id in ids))

    seconds = await stopwatch(everything)
    if journal is None:
        return seconds, 0, 0
    infos = [await journal.info(run_id) for run_id in ids]
    records = sum(info.records for info in infos if info is not None)
    finished = sum(info is not None and info.status == "finished" for info in infos)
    if finished != len(ids):
        raise AssertionError(f"only {finished} of {len(ids)} concurrent runs finished")
    return seconds, records, journal.commits - before


async def _throughput_rows(report: Report, sizes: Sizes, journals: dict[str, Journal]) -> None:
    counter = iter(range(1_000_000))
    seen: dict[str, list[tuple[float, int, int]]] = {name: [] for name in journals}

    def variant(name: str, journal: Journal | None) -> Callable[[], Awaitable[float]]:
        async def sample() -> float:
            seconds, records, commits = await _many(sizes, journal, f"many{next(counter)}")
            if journal is not None:
                seen[name].append((seconds, records, commits))
            return seconds

        return sample

    variants = {"no journal": variant("no journal", None)}
    variants.update({name: variant(name, journal) for name, journal in journals.items()})
    timings = await compare(variants, rounds=max(3, sizes.rounds // 2), warmup=1)
    # the header; per turn its response, each call's start and end, its end; the answer's
    # response and end; the run's end
    per_run = 1 + sizes.turns * (2 + 2 * sizes.calls) + 2 + 1
    report.check(
        f"each of {sizes.runs} concurrent runs recorded every record",
        all(r == sizes.runs * per_run for rows in seen.values() for _, r, _ in rows),
    )
    label = f"{sizes.runs} runs at once"
    report.rows.append(
        [f"{label}: no journal", ms(timings.median("no journal")), "", "1.000x", "", ""]
    )
    for name in journals:
        rates = sorted(r / s for s, r, _ in seen[name])
        commit_rates = sorted(c / s for s, _, c in seen[name])
        records_s = rates[len(rates) // 2]
        commits_s = commit_rates[len(commit_rates) // 2]
        ratio = timings.ratio(name, "no journal")
        key = name.lower().replace(" ", "_")
        report.rows.append(
            [
                f"{label}: {name}",
                ms(timings.median(name)),
                "",
                times(ratio),
                "",
                f"{records_s:,.0f} records/s, {commits_s:,.0f} commits/s",
            ]
        )
        report.figures[f"many_records_per_s_{key}"] = records_s
        report.figures[f"many_commits_per_s_{key}"] = commits_s
        report.figures[f"many_ratio_{key}"] = ratio


async def run(quick: bool = False) -> Report:
    sizes = QUICK if quick else FULL
    report = Report(
        key="journal",
        title=(
            f"10. Durable runs: the demo's scenarios (time x{sizes.time_scale}) and "
            f"{sizes.runs} runs at once, with and without a journal"
        ),
        columns=[
            "what",
            "wall (per turn / all runs)",
            "added per turn",
            "vs no journal",
            "commits per turn",
            "throughput",
        ],
    )
    started = time.perf_counter()
    with (
        tempfile.TemporaryDirectory(prefix="volley-bench-journal-") as folder,
        _postgres() as (postgres, why),
    ):
        async with _journals(Path(folder), postgres) as journals:
            await _demo_rows(report, sizes, journals)
            await _throughput_rows(report, sizes, journals)
    if postgres is None:
        report.rows.append(["PostgreSQL", "skipped", "", "", "", ""])
        report.notes.append(why)
    report.notes.append(
        "wall per turn: median over interleaved rounds of all four scenarios, divided by their "
        "turns; 'vs no journal' is the median of per-round ratios"
    )
    report.notes.append(
        f"at time x{sizes.time_scale} a turn is {1 / sizes.time_scale:.1f}x shorter than at the "
        "simulated model's real speed, so the journal's share of it is that much larger here"
    )
    report.notes.append(f"{time.perf_counter() - started:.1f} s")
    return report
