"""6. Streaming dispatch: a turn's latency when each call starts as soon as the model writes it.

An `Agent` talks to the simulated provider over loopback HTTP through the official Anthropic SDK,
once streaming (`streaming=True`: each read call starts the moment its `tool_use` block closes)
and once waiting for the whole message (`streaming=False`: the simulator then paces the plain
response by the same total decode time). The model writes a short sentence, then one `search`
call per query, each query 30 words long (39 output tokens per call, about 0.8 s of decoding at
50 tokens/s), after a 0.3 s time to first token.

Where the win comes from: call `i` can start when its arguments are done (`a_i`), so no turn can
end before `max(message end, max_i(a_i + duration_i))`: the lower bound of each row, taken from
the streamed run's own measured timeline (`TurnStats.timeline`) and its calls' measured run
times. Waiting ends at `message end + max_i duration_i`. If every call took as long, the last
call, written at the message's end, would end at message end + T either way: the gain comes from
slow calls written early. Hence four orderings of the calls' durations (a fixed seed):

- `random`: drawn between 10% and 100% of the calls' decode time, in random order: typical;
- `slowest first`: the same durations, longest first: the best ordering;
- `slowest last`: the same durations, longest last: nothing to gain (it shows there is no harm);
- `decode-heavy`: each tool takes 90% of the decoding left after its call (the last one 0.1 s),
  so every call but the last runs entirely while the model is still writing.

`ideal` is early / wait as the latency model predicts it, with no overhead at all. Only the first
turn (the one with the calls) is timed, from its request to its last result.

`stream late by` checks the simulator: how much later the streamed message ended than the plain
one (which is a single sleep). The simulator keeps each stream on a schedule fixed from its first
byte, so late timer wake-ups do not add up over a long message; this column stays within a few ms.
"""

from __future__ import annotations

import asyncio
import gc
import json
import random
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from anthropic import AsyncAnthropic

from volley import Agent, TurnStats, tool
from volley.providers.anthropic import AnthropicProvider
from volley.sim import SimServer, parse_scenario
from volley.sim._tokens import count_tokens

from ._harness import Goal, Report, compare, ms, times

TTFT = 0.3
PER_OUTPUT_TOKEN = 0.02
"""50 tokens/s: a realistic decode speed."""
QUERY_WORDS = 30
PREAMBLE = "Let me search for these."
SEED = 6
VOCABULARY = (
    "asyncio task group cancellation timeout retry backoff latency stream token decode tool "
    "call parallel batch schedule graph write read conflict order result error budget model "
    "provider server client socket loopback event queue lock thread pool worker deadline"
)
CASES = ("random", "slowest first", "slowest last", "decode-heavy")
MODES = ("wait", "early")
"""`streaming=False`, then `streaming=True`: the same agent otherwise."""


@dataclass(frozen=True, slots=True)
class Plan:
    """One row's script: the queries the model writes, in order, and how long each call takes.

    Times are the latency model's seconds, before the simulator's `time_scale`.
    """

    queries: tuple[str, ...]
    durations: tuple[float, ...]
    """Each call's run time, in call order."""
    arguments_done: tuple[float, ...]
    """When the model has written each call, from the request (the last one: the message end)."""

    @property
    def message_end(self) -> float:
        return self.arguments_done[-1]

    @property
    def ideal(self) -> float:
        """Early / wait with no overhead: what the latency model alone predicts."""
        wait = self.message_end + max(self.durations)
        ends = (a + d for a, d in zip(self.arguments_done, self.durations, strict=True))
        return max(self.message_end, *ends) / wait


def plan(calls: int, case: str) -> Plan:
    """The same queries and the same drawn durations for every case of `calls` calls."""
    rng = random.Random(SEED * 1_000 + calls)
    words = VOCABULARY.split()
    queries = tuple(
        " ".join([f"q{i}", *(rng.choice(words) for _ in range(QUERY_WORDS - 1))])
        for i in range(calls)
    )
    # The simulator's own count, so that these times are exactly its pacing: the text's tokens,
    # then per call its name's (with the block's start) and its JSON arguments' (the deltas).
    per_call = [
        (count_tokens("search") + count_tokens(json.dumps({"query": q}))) * PER_OUTPUT_TOKEN
        for q in queries
    ]
    done, written = [], TTFT + count_tokens(PREAMBLE) * PER_OUTPUT_TOKEN
    for seconds in per_call:
        written += seconds
        done.append(written)
    calls_decode = sum(per_call)
    drawn = [rng.uniform(0.1, 1.0) * calls_decode for _ in range(calls)]
    if case == "random":
        durations = drawn
    elif case == "slowest first":
        durations = sorted(drawn, reverse=True)
    elif case == "slowest last":
        durations = sorted(drawn)
    elif case == "decode-heavy":
        durations = [max(0.1, 0.9 * (done[-1] - a)) for a in done]
    else:
        raise ValueError(f"unknown case {case!r}")
    return Plan(queries, tuple(durations), tuple(done))


def scenario(p: Plan) -> str:
    return json.dumps(
        {
            "latency": {"ttft": TTFT, "per_output_token": PER_OUTPUT_TOKEN},
            "turns": [
                {
                    "text": PREAMBLE,
                    "calls": [{"name": "search", "arguments": {"query": q}} for q in p.queries],
                },
                {"text": "Done."},
            ],
        }
    )


def make_tool(p: Plan, scale: float) -> Any:
    seconds = {q: d * scale for q, d in zip(p.queries, p.durations, strict=True)}

    @tool(effects="read")
    async def search(query: str) -> str:
        """Search the web."""
        await asyncio.sleep(seconds[query])
        return f"results for {query.split()[0]}"

    return search


def lower_bound(turn: TurnStats) -> float:
    """The least this turn could take, given when each call was written and how long it ran."""
    ends = [c.arguments_done + c.ended - c.started for c in turn.timeline if c.started is not None]
    return max(turn.message_ended_at, *ends) - turn.started_at


def dispatched_as_told(turn: TurnStats, early: bool) -> bool:
    """Early: every call but the last started before the message ended. Waiting: none did."""
    starts = [c.started for c in turn.timeline]
    if any(s is None for s in starts):
        return False
    end = turn.message_ended_at
    if early:
        return all(s is not None and s < end for s in starts[:-1])
    return all(s is not None and s >= end for s in starts)


@dataclass(slots=True)
class Row:
    """One row's measurements: the first turn of every round, by mode."""

    calls: int
    case: str
    plan: Plan
    turns: dict[str, list[TurnStats]] = field(default_factory=lambda: {m: [] for m in MODES})
    ok: bool = True
    """Every turn had all its calls, none failed, each dispatched as its mode says."""

    def median(self, value: Callable[[TurnStats], float], mode: str = "early") -> float:
        return statistics.median(value(t) for t in self.turns[mode])

    def per_round(self, value: Callable[[TurnStats, TurnStats], float]) -> float:
        """Median over rounds of `value(early turn, waiting turn)`, both of the same round."""
        pairs = zip(self.turns["early"], self.turns["wait"], strict=True)
        return statistics.median(value(early, wait) for early, wait in pairs)


async def measure(calls: int, case: str, scale: float, rounds: int) -> Row:
    """Run the agent `rounds` times each way, interleaved, against one simulated server."""
    row = Row(calls, case, plan(calls, case))
    async with SimServer(parse_scenario(scenario(row.plan)), time_scale=scale) as sim:
        client = AsyncAnthropic(base_url=sim.base_url, api_key="sim", max_retries=0)
        try:
            search = make_tool(row.plan, scale)
            agents = {
                mode: Agent(
                    AnthropicProvider("claude-sim", client=client),
                    [search],
                    streaming=mode == "early",
                )
                for mode in MODES
            }

            def sample(mode: str) -> Callable[[], Any]:
                async def once() -> float:
                    turn = (await agents[mode].run("Search for these.")).turns[0]
                    row.ok &= (
                        turn.calls == calls
                        and not any(c.is_error for c in turn.timeline)
                        and turn.streamed == (mode == "early")
                        and dispatched_as_told(turn, mode == "early")
                    )
                    row.turns[mode].append(turn)
                    return turn.wall_time

                return once

            await compare({mode: sample(mode) for mode in MODES}, rounds=rounds, warmup=0)
        finally:
            await client.close()
    return row


async def run(quick: bool = False) -> Report:
    scale = 0.02 if quick else 0.04
    rounds = 1 if quick else 3
    sizes = (3,) if quick else (3, 5, 10)
    report = Report(
        key="streaming",
        title=f"6. Streaming dispatch: Anthropic SDK, simulated model (time x{scale})",
        columns=[
            "calls",
            "durations",
            "model writes",
            "wait for message",
            "early dispatch",
            "early / wait",
            "lower by",
            "ideal",
            "lower bound",
            "early / bound",
            "stream late by",
        ],
    )
    await measure(3, "random", scale, 1)  # warm up: imports, the SDK's first connection
    gc.freeze()  # the SDK's long-lived objects would make every round's gc.collect() slow
    try:
        rows = [await measure(n, case, scale, rounds) for n in sizes for case in CASES]
    finally:
        gc.unfreeze()
    report.check(
        "all calls ran, none failed; only streamed turns started calls before the message ended",
        all(row.ok for row in rows),
    )
    worst = 0.0
    for row in rows:
        ratio = row.per_round(lambda early, wait: early.wall_time / wait.wall_time)
        bound = row.per_round(lambda early, _: early.wall_time / lower_bound(early))
        late = row.per_round(lambda early, wait: early.model_time - wait.model_time)
        worst = max(worst, bound)
        report.rows.append(
            [
                str(row.calls),
                row.case,
                ms(row.plan.message_end * scale),
                ms(row.median(lambda t: t.wall_time, "wait")),
                ms(row.median(lambda t: t.wall_time)),
                times(ratio),
                f"{(1 - ratio) * 100:.0f}%",
                times(row.plan.ideal),
                ms(row.median(lower_bound)),
                times(bound),
                ms(late),
            ]
        )
        key = f"{row.calls}_{row.case.replace(' ', '_').replace('-', '_')}"
        report.figures[f"early_vs_wait_{key}"] = ratio
        report.figures[f"ideal_{key}"] = row.plan.ideal
        report.figures[f"early_vs_bound_{key}"] = bound
        report.figures[f"stream_late_s_{key}"] = late
        if row.case == "decode-heavy":
            report.goals.append(Goal(f"{row.calls} calls, decode-heavy: early / wait", ratio, 0.7))
    report.goals.append(Goal("early / lower bound, worst row", worst, 1.05))
    report.notes += [
        "model writes: the message's time by the latency model (TTFT and decoding), scaled;",
        "wait / early: the first turn's wall time, request to last result (median of rounds);",
        "lower bound: max(message end, max(arguments done + run time)) from the measured timeline;",
        "stream late by: how much later the streamed message ended than the plain one (a check "
        "of the simulator's pacing: it should stay within a few ms);",
        "ratios are medians over rounds of per-round ratios",
    ]
    return report
