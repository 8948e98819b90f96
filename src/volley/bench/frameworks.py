"""9. Frameworks: a turn of calls in LangGraph, LangChain and Pydantic AI, with and without volley.

The turn is read, read, write, read, read of one record, each call taking D seconds (0.3 s; 0.05 s
with `--quick`). A read notes the record when it starts and when it ends; the write changes it
halfway through. The outcome is right when the two reads before the write saw the old value
throughout and the two after it saw the new one: the model's order. Ideal is three stages (3 D);
the framework alone runs all five at once (D, but the reads see a half-done write); one by one
takes 5 D.

- LangGraph: `volley.integrations.langgraph.ToolNode` against `langgraph.prebuilt.ToolNode`,
  the node called directly with an AI message holding the five calls;
- LangChain: `create_agent` with `VolleyMiddleware` against without, a scripted chat model;
- Pydantic AI: `VolleyToolset` against the plain toolset, a `FunctionModel`.

Then volley's cost per call inside each framework: N no-op calls (reads of one record, declared,
so volley checks them) in one message, with and without the integration. LangChain is also run
with a middleware that does nothing but pass each call on: `create_agent` traces every
`wrap_tool_call` middleware (two thread-pool hops a call, tracing on or off), a cost of the seam
that any middleware pays; volley's own part is the ratio to that run.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial

from ._framework_runs import (
    BUILDERS,
    NEW,
    OLD,
    Run,
    Store,
    langchain,
    noop_calls,
    turn_calls,
)
from ._harness import Goal, Report, compare, ms, stopwatch, times, us

LIMIT = 1.10
FRAMEWORKS = ("LangGraph", "LangChain", "Pydantic AI")
RIGHT = [f"{OLD}/{OLD}", f"{OLD}/{OLD}", "written", f"{NEW}/{NEW}", f"{NEW}/{NEW}"]
"""What the five calls answer, in order, when they ran in the model's order."""


@dataclass(frozen=True, slots=True)
class Sizes:
    delay: float
    rounds: int
    calls: int
    overhead_rounds: int


FULL = Sizes(delay=0.3, rounds=3, calls=50, overhead_rounds=45)
QUICK = Sizes(delay=0.05, rounds=1, calls=50, overhead_rounds=3)


WITH, WITHOUT = "with volley", "without"
PASS_ON = "LangChain pass-on middleware"
LEARNED = "LangChain with volley, tools learned"


async def run(quick: bool = False) -> Report:
    sizes = QUICK if quick else FULL
    d = sizes.delay
    report = Report(
        key="frameworks",
        title=(
            f"9. Frameworks: read, read, write, read, read ({ms(d)} each) in one message, with "
            f"and without volley ({sizes.rounds} rounds; overhead {sizes.overhead_rounds}; "
            "interleaved)"
        ),
        columns=[
            "framework",
            "runner",
            "turn wall",
            "/ ideal 3 stages",
            "outcome",
            "per no-op call",
        ],
    )

    # The turn: every sample on a fresh store, its outcome kept.
    stores: dict[str, Store] = {}
    outcomes: dict[str, list[bool]] = {}
    variants: dict[str, Callable[[], Awaitable[float]]] = {}
    for framework in FRAMEWORKS:
        for volley in (True, False):
            name = f"{framework} {WITH if volley else WITHOUT}"
            store = stores[name] = Store(d)
            go = BUILDERS[framework](store, turn_calls(), volley=volley)
            outcomes[name] = []

            async def sample(store: Store = store, go: Run = go, name: str = name) -> float:
                store.value = OLD
                texts: list[str] = []

                async def work() -> None:
                    texts.extend(await go())

                seconds = await stopwatch(work)
                outcomes[name].append(texts == RIGHT)
                return seconds

            variants[name] = sample
    turn = await compare(variants, rounds=sizes.rounds, warmup=1)

    # The cost per call: N no-op calls in one message.
    n = sizes.calls
    noops: dict[str, Run] = {
        f"{framework} {WITH if volley else WITHOUT}": BUILDERS[framework](
            Store(0.0), noop_calls(n), volley=volley
        )
        for framework in FRAMEWORKS
        for volley in (True, False)
    }
    noops[PASS_ON] = langchain(Store(0.0), noop_calls(n), volley=False, pass_on=True)
    noops[LEARNED] = langchain(Store(0.0), noop_calls(n), volley=True, learn=True)
    noop_ok: dict[str, list[bool]] = {name: [] for name in noops}

    async def noop_sample(name: str) -> float:
        texts: list[str] = []

        async def work() -> None:
            texts.extend(await noops[name]())

        seconds = await stopwatch(work)
        noop_ok[name].append(texts == ["ok"] * n)
        return seconds

    cost = await compare(
        {name: partial(noop_sample, name) for name in noops},
        rounds=sizes.overhead_rounds,
        warmup=1,
    )

    for framework in FRAMEWORKS:
        with_, without = f"{framework} {WITH}", f"{framework} {WITHOUT}"
        ratio = cost.ratio(with_, without)
        for name, label in ((with_, WITH), (without, WITHOUT)):
            wall = turn.median(name)
            right = all(outcomes[name])
            per_call = cost.median(name) / n
            report.rows.append(
                [
                    framework,
                    label,
                    ms(wall),
                    times(wall / (3 * d)),
                    "right" if right else "WRONG order",
                    us(per_call) + (f" ({times(ratio)})" if name == with_ else ""),
                ]
            )
            report.figures[f"{name} turn s"] = wall
            report.figures[f"{name} turn / ideal"] = wall / (3 * d)
            report.figures[f"{name} right"] = float(right)
            report.figures[f"{name} us_per_call"] = per_call * 1e6
        report.figures[f"{framework} overhead with / without"] = ratio
        if framework == "LangChain":
            # Any middleware costs LangChain's traced seam (`PASS_ON`): what volley adds is
            # measured against a middleware that only passes each call on.
            for name, label in ((PASS_ON, "pass-on middleware"), (LEARNED, "tools learned")):
                ratio_ = cost.ratio(name, without)
                per_call_ = us(cost.median(name) / n)
                report.rows.append([framework, label, "", "", "", f"{per_call_} ({times(ratio_)})"])
                report.figures[f"{name} us_per_call"] = cost.median(name) / n * 1e6
                report.figures[f"{name} / without"] = ratio_
            seam = cost.ratio(with_, PASS_ON)
            report.figures["LangChain overhead with / pass-on"] = seam
            learned = report.figures["LangChain overhead learned / pass-on"] = cost.ratio(
                LEARNED, PASS_ON
            )
            report.notes.append(
                f"LangChain over the pass-on middleware: VolleyMiddleware(tools) {times(seam)}, "
                f"VolleyMiddleware() {times(learned)}"
            )
            report.goals.append(Goal("LangChain: per call with volley / pass-on", seam, LIMIT))
        else:
            report.goals.append(Goal(f"{framework}: per call with volley / without", ratio, LIMIT))
        report.check(f"{framework}: the turn ends right with volley", all(outcomes[with_]))
        # A time, so a goal (printed), not a check: a loaded machine stretches a quick run.
        report.goals.append(
            Goal(f"{framework}: turn with volley / ideal 3 stages (one by one: 5/3)",
                 turn.median(with_) / (3 * d), 4 / 3)
        )  # fmt: skip
    report.check(
        "every no-op call answered, in order", all(all(oks) and oks for oks in noop_ok.values())
    )
    report.notes += [
        f"ideal: 3 stages = {ms(3 * d)}; all at once {ms(d)} (the reads see a half-done write); "
        f"one by one {ms(5 * d)}",
        "outcome: the two reads before the write saw the old value throughout, the two after it "
        "the new one, and results came in call order",
        f"per no-op call: {n} declared reads of one record in one message, the whole framework "
        "run (LangChain and Pydantic AI: two model steps) over the calls; ratio: with / without",
        "LangChain pass-on middleware: a middleware that only calls its handler, the seam's own "
        "cost (LangChain traces each hook of a middleware: an async hook hops to a thread twice); "
        "volley's goal there is against it; with volley: VolleyMiddleware(tools); tools learned: "
        "VolleyMiddleware(), one traced model hook more",
    ]
    return report
