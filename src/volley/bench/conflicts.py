"""4. Conflicts: reads and writes of a few records, volley against the only other safe order."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from volley import Executor, Toolbox, ToolCall, tool

from ._baselines import longest_path, run_hand_wired
from ._harness import Goal, Report, Sample, compare, ms, stopwatch, times

SEED = 7
LIMIT = 1.05


@dataclass(slots=True)
class Store:
    """Records of appended values. A write reads, works, then writes back: races lose updates."""

    records: dict[str, list[int]] = field(default_factory=dict)
    names: tuple[str, ...] = ()

    def reset(self) -> None:
        self.records = {name: [] for name in self.names}

    def snapshot(self) -> dict[str, list[int]]:
        return {name: list(values) for name, values in self.records.items()}


@dataclass(frozen=True, slots=True)
class Op:
    kind: str  # "write", "read" or "compute"
    arguments: dict[str, Any]

    @property
    def seconds(self) -> float:
        return float(self.arguments["seconds"])


def make_tools(store: Store) -> dict[str, Callable[..., Awaitable[Any]]]:
    async def write(id: str, value: int, seconds: float) -> None:
        current = store.records[id]
        await asyncio.sleep(seconds)
        store.records[id] = [*current, value]

    async def read(id: str, seconds: float) -> list[int]:
        await asyncio.sleep(seconds / 2)
        seen = list(store.records[id])
        await asyncio.sleep(seconds / 2)
        return seen

    async def compute(seconds: float) -> None:
        await asyncio.sleep(seconds)

    return {"write": write, "read": read, "compute": compute}


def make_toolbox(functions: dict[str, Callable[..., Awaitable[Any]]]) -> Toolbox:
    return Toolbox(
        [
            tool(writes=lambda a: [f"record:{a['id']}"])(functions["write"]),
            tool(reads=lambda a: [f"record:{a['id']}"])(functions["read"]),
            tool(functions["compute"]),
        ]
    )


def draw(rng: random.Random, n: int, records: tuple[str, ...]) -> list[Op]:
    writes, reads = n // 5, (n - n // 5) // 2
    kinds = ["write"] * writes + ["read"] * reads + ["compute"] * (n - writes - reads)
    rng.shuffle(kinds)
    ops = []
    for index, kind in enumerate(kinds):
        arguments: dict[str, Any] = {"seconds": rng.uniform(0.010, 0.050)}
        if kind != "compute":
            arguments["id"] = rng.choice(records)
        if kind == "write":
            arguments["value"] = index
        ops.append(Op(kind, arguments))
    return ops


def conflict_predecessors(ops: list[Op]) -> list[list[int]]:
    """Whom each op must wait for in any safe order: a read, the record's last writer; a write,
    the last writer and the readers since. Everything else may overlap.
    """
    predecessors: list[list[int]] = []
    writer: dict[str, int] = {}
    readers: dict[str, list[int]] = {}
    for index, op in enumerate(ops):
        before: list[int] = []
        record = op.arguments.get("id")
        if record is not None:
            if record in writer:
                before.append(writer[record])
            if op.kind == "read":
                readers.setdefault(record, []).append(index)
            else:
                before.extend(readers.pop(record, []))
                writer[record] = index
        predecessors.append(before)
    return predecessors


Runner = Callable[[], Awaitable[list[Any]]]
"""Runs every op once and returns their values, in op order."""


@dataclass(frozen=True, slots=True)
class Outcome:
    state: dict[str, list[int]]
    reads: dict[int, list[int]]


def sampler(store: Store, ops: list[Op], runner: Runner, into: list[Outcome]) -> Sample:
    """Time one run from a fresh store; keep the final store and what each read saw."""

    async def sample() -> float:
        store.reset()
        values: list[Any] = []

        async def go() -> None:
            values.extend(await runner())

        seconds = await stopwatch(go)
        reads = {
            i: v for i, (op, v) in enumerate(zip(ops, values, strict=True)) if op.kind == "read"
        }
        into.append(Outcome(store.snapshot(), reads))
        return seconds

    return sample


LABELS = {
    "naive gather": "naive gather (unsafe)",
    "hand-wired": "hand-wired conflict graph",
    "volley": "volley",
}


async def run(quick: bool = False) -> Report:
    n, rounds = (30, 2) if quick else (100, 5)
    rng = random.Random(SEED)
    store = Store(names=tuple(f"r{k}" for k in range(rng.randint(3, 5))))
    functions = make_tools(store)
    ops = draw(rng, n, store.names)
    calls = [ToolCall(f"c{i}", op.kind, op.arguments) for i, op in enumerate(ops)]
    bodies = [partial(functions[op.kind], **op.arguments) for op in ops]
    predecessors = conflict_predecessors(ops)
    outcomes: dict[str, list[Outcome]] = {name: [] for name in ("sequential", *LABELS)}

    async def sequential() -> list[Any]:
        return [await body() for body in bodies]

    async def naive() -> list[Any]:
        return list(await asyncio.gather(*(body() for body in bodies)))

    async def hand_wired() -> list[Any]:
        return await run_hand_wired(bodies, predecessors)

    async with Executor(make_toolbox(functions), max_concurrency=n) as ex:

        async def volley() -> list[Any]:
            results = await ex.run(calls)
            if any(r.is_error for r in results):
                raise AssertionError([r.content for r in results if r.is_error])
            return [r.value for r in results]

        runners = {"volley": volley, "hand-wired": hand_wired, "naive gather": naive}
        reference = await compare(
            {"sequential": sampler(store, ops, sequential, outcomes["sequential"])},
            rounds=1,
            warmup=0,
        )
        timings = await compare(
            {name: sampler(store, ops, runner, outcomes[name]) for name, runner in runners.items()},
            rounds=rounds,
        )

    expected = outcomes["sequential"][0]
    cp = longest_path([op.seconds for op in ops], predecessors)
    seq = reference.median("sequential")
    writes = sum(op.kind == "write" for op in ops)
    report = Report(
        key="conflicts",
        title=f"4. {n} calls, {writes} writes to {len(store.names)} records ({rounds} rounds)",
        columns=[
            "runner",
            "median wall",
            "best wall",
            "speed-up vs sequential",
            "wall / conflict c.p.",
            "same as sequential",
        ],
    )
    report.rows.append(
        ["sequential (safe)", ms(seq), ms(seq), times(1.0), times(seq / cp), "reference"]
    )
    for name, label in LABELS.items():
        median = timings.median(name)
        same = all(o == expected for o in outcomes[name])
        report.rows.append(
            [
                label,
                ms(median),
                ms(timings.best(name)),
                times(seq / median),
                times(median / cp),
                "yes" if same else "NO",
            ]
        )
        report.figures[f"{name} speed-up vs sequential"] = seq / median
        report.figures[f"{name} wall / conflict critical path"] = median / cp
    report.figures["conflict critical path s"] = cp
    over_ideal = timings.ratio("volley", "hand-wired")
    report.figures["volley / hand-wired"] = over_ideal
    report.goals.append(Goal("volley wall / hand-wired wall", over_ideal, LIMIT))
    report.notes += [
        f"conflict c.p. {ms(cp)}: the longest chain of calls that any safe order runs in turn",
        "hand-wired: the conflict graph wired by hand into tasks (the ideal); sequential ran once",
    ]
    report.check(
        "volley's final store equals the sequential one, every round",
        all(o.state == expected.state for o in outcomes["volley"]),
    )
    report.check(
        "volley's reads saw what the sequential reads saw, every round",
        all(o.reads == expected.reads for o in outcomes["volley"]),
    )
    return report
