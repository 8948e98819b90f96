"""Plan mode against parallel calls and one call per turn: round trips, input tokens, wall time.

A chain of dependent calls costs a round trip to the model per link, each sending the whole
conversation again; parallel calls collapse only the links that do not depend on each other.
With plan mode the model writes the chain at once (`run_plan`, steps referring to earlier steps'
results) and volley runs it as one batch. An `Agent` talks to the simulated model over loopback
HTTP through the official Anthropic SDK; the model's three ways of working are scripted (the
same calls, the same tool latencies, a latency model of time to first token and decoding), so
what differs is only how many times the model is asked, and what it is sent.

Scenarios: search the web, fetch the top three results, then summarize them; look up a user,
then their orders, then each order's status; the first without its summary, a chain of two links
only; and, as a control, three independent lookups, where plans can win nothing and must cost
nothing.
"""

from __future__ import annotations

import asyncio
import json
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from anthropic import AsyncAnthropic

from volley import Agent, RunResult, tool
from volley.providers.anthropic import AnthropicProvider
from volley.sim import SimServer, parse_scenario

from ._harness import Goal, Report, ms, times

LATENCY = {"ttft": 0.5, "per_output_token": 0.01, "per_input_token": 0.00002}
"""Half a second to the first token, 100 tokens a second after it (the roundtrips benchmark's)."""

TOOL_SECONDS = 0.5
"""Every tool call takes half a second (a web search, a page, a database behind an API)."""

Calls = list[tuple[str, dict[str, Any]]]


@dataclass(frozen=True)
class Scenario:
    """One task, as the model would do it in each mode: the calls of each turn."""

    name: str
    prompt: str
    serial: list[Calls]
    """One call per turn."""
    parallel: list[Calls]
    """Parallel calls: every call whose arguments are known at once."""
    plan: list[Calls]
    """Plan mode (for the control, the plan the model may write though it gains nothing)."""
    dependent: bool
    goal: bool = True
    """Whether its figures are held to a goal (else shown for what they teach)."""


def _tools(scale: float) -> list[Any]:
    async def pause() -> None:
        await asyncio.sleep(TOOL_SECONDS * scale)

    @tool(effects="read")
    async def search(query: str) -> dict[str, Any]:
        """Search the web; the best results first."""
        await pause()
        return {
            "results": [
                {
                    "url": f"https://example.org/{query.replace(' ', '-')}/{i}",
                    "title": f"{query}, part {i}",
                    "snippet": " ".join([query] * 10),
                }
                for i in range(5)
            ]
        }

    @tool(effects="read")
    async def fetch(url: str) -> str:
        """Fetch the main passage of a page."""
        await pause()
        return f"The page at {url} says: {PASSAGE}"

    @tool(effects="read")
    async def summarize(pages: list[str]) -> str:
        """Summarize passages in a few lines."""
        await pause()
        return f"{len(pages)} pages agree: plans save round trips when calls depend on calls."

    @tool(effects="read")
    async def find_user(name: str) -> dict[str, Any]:
        """Find a user by name."""
        await pause()
        return {"id": f"u-{name.lower()}", "name": name, "since": "2019-04-01"}

    @tool(effects="read")
    async def list_orders(user_id: str) -> dict[str, Any]:
        """A user's recent orders, newest first."""
        await pause()
        return {"orders": [{"id": f"{user_id}-o{i}", "total": 10 * (i + 1)} for i in range(3)]}

    @tool(effects="read")
    async def order_status(order_id: str) -> dict[str, Any]:
        """Where an order is."""
        await pause()
        return {"order": order_id, "status": "shipped", "eta": "2026-12-05"}

    @tool(effects="read")
    async def weather(city: str) -> dict[str, Any]:
        """Today's weather in a city."""
        await pause()
        return {"city": city, "sky": "clear", "high": 21}

    return [search, fetch, summarize, find_user, list_orders, order_status, weather]


def _step(step_id: str, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    return {"id": step_id, "tool": name, "arguments": arguments}


def _run_plan(*steps: dict[str, Any]) -> Calls:
    return [("run_plan", {"steps": list(steps)})]


URLS = [f"https://example.org/plan-mode/{i}" for i in range(3)]
PASSAGE = " ".join(["words about it"] * 8)
PAGES = [f"The page at {u} says: {PASSAGE}" for u in URLS]
"""Without a plan, the model copies each passage it read into the summary's call; with one, it
refers to them (`fetch` returns exactly these)."""
ORDERS = [f"u-ada-o{i}" for i in range(3)]
CITIES = ["Paris", "Berlin", "Tokyo"]

SCENARIOS = [
    Scenario(
        "search, fetch top 3, summarize",
        "Search for plan mode, read the top three results, and summarize them.",
        serial=[
            [("search", {"query": "plan mode"})],
            *([("fetch", {"url": u})] for u in URLS),
            [("summarize", {"pages": PAGES})],
        ],
        parallel=[
            [("search", {"query": "plan mode"})],
            [("fetch", {"url": u}) for u in URLS],
            [("summarize", {"pages": PAGES})],
        ],
        plan=[
            _run_plan(
                _step("s", "search", {"query": "plan mode"}),
                *(
                    _step(f"f{i}", "fetch", {"url": {"$ref": "s", "pointer": f"/results/{i}/url"}})
                    for i in range(3)
                ),
                _step("sum", "summarize", {"pages": [{"$ref": f"f{i}"} for i in range(3)]}),
            )
        ],
        dependent=True,
    ),
    Scenario(
        "search, fetch top 3",
        "Search for plan mode and read the top three results.",
        serial=[[("search", {"query": "plan mode"})], *([("fetch", {"url": u})] for u in URLS)],
        parallel=[[("search", {"query": "plan mode"})], [("fetch", {"url": u}) for u in URLS]],
        plan=[
            _run_plan(
                _step("s", "search", {"query": "plan mode"}),
                *(
                    _step(f"f{i}", "fetch", {"url": {"$ref": "s", "pointer": f"/results/{i}/url"}})
                    for i in range(3)
                ),
            )
        ],
        dependent=True,
        goal=False,
    ),
    Scenario(
        "user, orders, statuses",
        "Where are Ada's three latest orders?",
        serial=[
            [("find_user", {"name": "Ada"})],
            [("list_orders", {"user_id": "u-ada"})],
            *([("order_status", {"order_id": o})] for o in ORDERS),
        ],
        parallel=[
            [("find_user", {"name": "Ada"})],
            [("list_orders", {"user_id": "u-ada"})],
            [("order_status", {"order_id": o}) for o in ORDERS],
        ],
        plan=[
            _run_plan(
                _step("u", "find_user", {"name": "Ada"}),
                _step("o", "list_orders", {"user_id": {"$ref": "u", "pointer": "/id"}}),
                *(
                    _step(
                        f"s{i}",
                        "order_status",
                        {"order_id": {"$ref": "o", "pointer": f"/orders/{i}/id"}},
                    )
                    for i in range(3)
                ),
            )
        ],
        dependent=True,
    ),
    Scenario(
        "3 independent lookups",
        "What is the weather in Paris, Berlin and Tokyo?",
        serial=[[("weather", {"city": c})] for c in CITIES],
        parallel=[[("weather", {"city": c}) for c in CITIES]],
        plan=[_run_plan(*(_step(f"w{i}", "weather", {"city": c}) for i, c in enumerate(CITIES)))],
        dependent=False,
    ),
]

SERIAL, PARALLEL, PLAN, DIRECT = (
    "one call per turn",
    "parallel calls",
    "plan mode: one plan",
    "plan mode: direct calls",
)
"""The model's ways of working; the last two with `Agent(plan=True)`, the last calling the tools
directly as without it (what the plan tool's description asks when no call needs another's
result: offering the plan tool must then cost nothing)."""

PREAMBLE = "I'll look that up, and read what comes back before I decide on the next step."
"""What the model writes before its calls in each turn, as models do (in plan mode, once)."""
ANSWER = (
    "Here is what I found, from {result_count} results: the short version first, then the "
    "details of each, with where they came from."
)
"""The final answer, the same in every mode (its decoding time is not what differs)."""


def script(turns: list[Calls]) -> str:
    """The simulated model's turns: each turn's calls, then the answer."""
    return json.dumps(
        {
            "latency": LATENCY,
            "turns": [
                *(
                    {"text": PREAMBLE, "calls": [{"name": n, "arguments": a} for n, a in calls]}
                    for calls in turns
                ),
                {"text": ANSWER},
            ],
        }
    )


@dataclass
class Measured:
    walls: list[float]
    result: RunResult

    @property
    def wall(self) -> float:
        return statistics.median(self.walls)


async def one_run(turns: list[Calls], scale: float, **options: Any) -> tuple[RunResult, float]:
    async with SimServer(parse_scenario(script(turns)), time_scale=scale) as sim:
        client = AsyncAnthropic(base_url=sim.base_url, api_key="sim", max_retries=0)
        agent = Agent(AnthropicProvider("claude-sim", client=client), _tools(scale), **options)
        try:
            loop = asyncio.get_running_loop()
            started = loop.time()
            result = await agent.run("Go.")
            wall = loop.time() - started
        finally:
            await client.close()
    return result, wall


def _variants(s: Scenario) -> dict[str, Callable[[float], Any]]:
    return {
        SERIAL: lambda k: one_run(s.serial, k, parallel=False),
        PARALLEL: lambda k: one_run(s.parallel, k),
        PLAN: lambda k: one_run(s.plan, k, plan=True),
        DIRECT: lambda k: one_run(s.parallel, k, plan=True),
    }


async def run(quick: bool = False) -> Report:
    scale = 0.02 if quick else 0.1
    rounds = 1 if quick else 3
    report = Report(
        key="plans",
        title=f"14. Plan mode: Anthropic SDK, simulated model (time x{scale})",
        columns=[
            "scenario",
            "mode",
            "round trips",
            "input tokens",
            "wall",
            "wall vs parallel",
            "tokens vs parallel",
        ],
    )
    await one_run(SCENARIOS[2].parallel, scale)  # warm up: imports, the SDK's first connection
    for s in SCENARIOS:
        measured: dict[str, Measured] = {}
        variants = _variants(s)
        for r in range(rounds):  # interleaved, each round starting with another mode
            names = list(variants)
            for name in names[r % len(names) :] + names[: r % len(names)]:
                result, wall = await variants[name](scale)
                if name in measured:
                    measured[name].walls.append(wall)
                else:
                    measured[name] = Measured([wall], result)
        _check(report, s, measured)
        base = measured[PARALLEL]
        for name in (SERIAL, PARALLEL, PLAN, DIRECT):
            m = measured[name]
            report.rows.append(
                [
                    s.name,
                    name,
                    str(m.result.stats.round_trips),
                    f"{m.result.stats.input_tokens:,}",
                    ms(m.wall),
                    times(m.wall / base.wall),
                    times(m.result.stats.input_tokens / base.result.stats.input_tokens),
                ]
            )
        plan_ratio = measured[PLAN].wall / base.wall
        direct_ratio = measured[DIRECT].wall / base.wall
        report.figures[f"plan_vs_parallel_{s.name}"] = plan_ratio
        report.figures[f"direct_vs_parallel_{s.name}"] = direct_ratio
        if s.dependent and s.goal:
            label = f"{s.name}: one plan / parallel calls, wall (1.3x faster)"
            report.goals.append(Goal(label, plan_ratio, 1 / 1.3))
        elif s.dependent:
            report.notes.append(
                f"{s.name}: a chain of two links, for comparison: a plan saves one round trip "
                f"of three ({1 / plan_ratio:.2f}x faster here)"
            )
        else:
            label = f"{s.name}: plan mode (direct calls) / parallel calls, wall (never slower)"
            report.goals.append(Goal(label, direct_ratio, 1.02))
    report.notes += [
        "the same calls, tool latencies (0.5 s) and texts in every mode; the model's turns are",
        "scripted and timed by the simulator's latency model (0.5 s to the first token, then",
        "100 tokens/s, all scaled); plans stream, and their steps start as they are written;",
        "'never slower' allows 2% for noise; tokens are the simulator's (see volley.sim)",
    ]
    return report


def _check(report: Report, s: Scenario, measured: dict[str, Measured]) -> None:
    """The round trips each mode must take, and the same answers in every mode."""
    trips = {
        SERIAL: len(s.serial) + 1,
        PARALLEL: len(s.parallel) + 1,
        PLAN: 2,
        DIRECT: len(s.parallel) + 1,
    }
    for name, expected in trips.items():
        got = measured[name].result.stats.round_trips
        report.check(f"{s.name}, {name}: {expected} round trips", got == expected)
    for name, m in measured.items():
        calls = sum(t.calls for t in m.result.stats.turns)
        report.check(f"{s.name}, {name}: every call ran", calls == sum(map(len, s.serial)))
        errors = [
            r
            for message in m.result.messages
            for r in getattr(message, "results", ())
            if r.is_error or '"error"' in r.content
        ]
        report.check(f"{s.name}, {name}: no call failed", not errors)
