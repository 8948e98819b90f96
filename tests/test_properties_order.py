"""Ordering: conflicts never overlap, outcomes equal a sequential run, dependencies hold."""

from __future__ import annotations

import asyncio
import itertools
import re
from typing import Any

import pytest
from _batches import (
    FAULT_TOOLS,
    Spec,
    coin,
    conflict,
    declared_batches,
    family_args,
    maybe_text,
    num,
    oracle_access,
    perms,
    pick,
    run_all,
    run_all_calls,
    simulate,
    some,
    split_deps,
    subst,
    wrapped_refs,
)
from _hyp import examples
from _vtime import REC, max_overlap, vrun
from hypothesis import given
from hypothesis import strategies as st

from volley import ErrorKind, Executor, ToolCall, tool


@given(declared_batches())
@examples(1200)
def test_conflicting_calls_never_overlap_and_nothing_else_waits(specs):
    results = vrun(lambda: run_all(FAULT_TOOLS, specs))
    access = [oracle_access(s.name, s.args) for s in specs]
    starts, ends, _ = simulate(specs)
    returns = {s.id: s.value for s in specs}
    for j, (spec, result) in enumerate(zip(specs, results, strict=True)):
        assert not result.is_error, result
        assert result.value == spec.value
        assert REC.received[spec.tag] == subst(spec.args.get("x"), returns)
        start, end = REC.span(spec.tag)
        for i in range(j):
            if conflict(access[i], access[j]):
                assert start >= REC.span(specs[i].tag)[1], (specs[i], spec)
        # It starts the moment its last predecessor ends: never before, never later.
        assert (start, end) == (starts[j], ends[j]), spec
        assert (result.started_at, result.ended_at) == (start, end)


# -- 3. the outcome equals running the calls one by one ---------------------------------------


class Store:
    data: dict[str, Any] = {}  # noqa: RUF012


def _rec(*keys: str) -> Any:
    return lambda a: [f"rec:{a[k]}" for k in keys]


@tool(writes=_rec("key"))
async def put(tag: str, key: str, value: int | None, d: float = 0) -> int | None:
    await asyncio.sleep(d)
    old = Store.data.get(key)
    Store.data[key] = value
    return old


@tool(writes=_rec("key"))
async def incr(tag: str, key: str, by: int, d: float = 0) -> int:
    value = Store.data.get(key) or 0
    await asyncio.sleep(d)
    Store.data[key] = value + by
    return value + by


@tool(writes=_rec("key"))
async def append(tag: str, key: str, item: str, d: float = 0) -> int:
    items = list(Store.data.get(key) or [])
    await asyncio.sleep(d)
    Store.data[key] = [*items, item]
    return len(items) + 1


@tool(reads=_rec("key"))
async def get(key: str, d: float = 0) -> Any:
    before = Store.data.get(key)
    await asyncio.sleep(d)
    if Store.data.get(key) != before:
        REC.notes.append(("torn read", key))
    return Store.data.get(key)


@tool(reads=_rec("src"), writes=_rec("dst"))
async def move(tag: str, src: str, dst: str, d: float = 0) -> Any:
    value = Store.data.get(src)
    await asyncio.sleep(d)
    Store.data[dst] = value
    return value


@tool(effects="read")
async def total(d: float = 0) -> list[Any]:
    before = sorted(Store.data.items())
    await asyncio.sleep(d)
    if sorted(Store.data.items()) != before:
        REC.notes.append(("torn read", "*"))
    return [list(item) for item in before]


@tool(effects="write")
async def double(tag: str, d: float = 0) -> int:
    snapshot = dict(Store.data)
    await asyncio.sleep(d)
    for key, value in snapshot.items():
        if isinstance(value, int):
            Store.data[key] = value * 2
        elif isinstance(value, list):
            Store.data[key] = [*value, "|"]
    return len(snapshot)


@tool
async def idle(tag: str, d: float = 0) -> str:
    await asyncio.sleep(d)
    return tag


STORE_TOOLS = [put, incr, append, get, move, total, double, idle]
INT_KEYS, LIST_KEYS = ("i", "j", "k"), ("l", "m")
RETURNS_INT = ("put", "incr", "get", "move")  # on number keys: an int or None


@st.composite
def store_batches(draw: Any) -> list[Spec]:
    specs: list[Spec] = []
    for i in range(num(draw, 0, 25)):
        name = pick(draw, ["put", "incr", "append", "get", "move", "total", "double"])
        if coin(draw, 10):
            name = "idle"
        tag, d = f"t{i}", num(draw, 0, 3)
        keys = LIST_KEYS if name == "append" else INT_KEYS
        args: dict[str, Any] = {"tag": tag, "d": d}
        if name in ("put", "incr", "append", "get"):
            args["key"] = pick(draw, keys + LIST_KEYS if name == "get" else keys)
        if name == "put":
            sources = [
                s.id
                for s in specs
                if s.name in RETURNS_INT and s.args.get("key", s.args.get("src")) in INT_KEYS
            ]
            use_ref = sources and coin(draw)
            args["value"] = {"$ref": pick(draw, sources)} if use_ref else i
        elif name == "incr":
            args["by"] = num(draw, 1, 9)
        elif name == "append":
            args["item"] = tag
        elif name == "move":
            group = pick(draw, [INT_KEYS, LIST_KEYS])
            args["src"], args["dst"] = pick(draw, group), pick(draw, group)
        if name in ("get", "total"):
            del args["tag"]  # identical reads may share a result
        before = some(draw, range(i), 1)
        spec = Spec(f"c{i}", name, args, tag, depends_on=tuple(f"c{j}" for j in before))
        specs.append(maybe_text(draw, spec))
    return specs


@given(store_batches())
@examples(1200)
def test_outcome_equals_running_the_calls_one_by_one(specs):
    tools = {t.name: t for t in STORE_TOOLS}

    async def main():
        Store.data = {}
        async with Executor(STORE_TOOLS) as ex:
            results = await ex.run([s.call() for s in specs])
        concurrent = Store.data
        Store.data = {}
        returns: dict[str, Any] = {}
        for spec in specs:
            returns[spec.id] = await tools[spec.name].fn(**subst(spec.args, returns))
        return results, concurrent, returns, Store.data

    results, concurrent, returns, sequential = vrun(main)
    assert REC.notes == []
    assert [r.error_kind for r in results] == [None] * len(specs)
    assert [r.value for r in results] == [returns[s.id] for s in specs]
    assert concurrent == sequential


# -- 4. dependencies: order, values, cycles -----------------------------------------------------


@st.composite
def dependency_graphs(draw: Any) -> tuple[list[Spec], list[set[int]], bool]:
    """Calls listed in any order, depending on earlier and later calls: cycles of every shape
    (a call on itself, rings, several rings through one call), calls depending on cycles."""
    n = num(draw, 1, 16)
    edges: list[set[int]] = []
    specs = []
    for i in range(n):
        needs = set(some(draw, range(i), 2))
        if coin(draw, 3):
            needs.add(num(draw, 0, n - 1))  # any call: a later one may close a cycle
        edges.append(needs)
        on, refs = split_deps(draw, [f"c{j}" for j in sorted(needs)], True)
        tag, d = f"t{i}", num(draw, 0, 4)
        name = pick(draw, ["free", "rd"])
        args = family_args(draw, name, tag, d, wrapped_refs(draw, refs))
        spec = Spec(f"c{i}", name, args, tag, depends_on=tuple(on), needs=sorted(needs), total=d)
        spec.value = {"from": tag}
        specs.append(maybe_text(draw, spec))
    order = draw(perms(n))
    return [specs[i] for i in order], edges, coin(draw)


def reachable(edges: list[set[int]]) -> list[set[int]]:
    """For each call, every call it depends on, directly or not."""
    reach = []
    for i in range(len(edges)):
        seen: set[int] = set()
        stack = list(edges[i])
        while stack:
            j = stack.pop()
            if j not in seen:
                seen.add(j)
                stack.extend(edges[j])
        reach.append(seen)
    return reach


@given(dependency_graphs())
@examples(1200)
def test_dependencies_order_values_and_cycles(graph):
    listed, edges, streamed = graph

    async def main():
        async with Executor(FAULT_TOOLS) as ex:
            if not streamed:
                return await ex.run([s.call() for s in listed])
            batch = ex.batch()  # calls arrive one by one, as a model streams them
            for spec in listed:
                batch.submit(spec.call())
            return await batch.close()

    results = vrun(main)
    n = len(edges)
    # A call naming itself fails at once; the others wait, and the rings among them are cycles.
    itself = {i for i in range(n) if i in edges[i]}
    rest = [set() if i in itself else edges[i] - itself for i in range(n)]
    ring = {i for i, reach in enumerate(reachable(rest)) if i in reach}
    doomed = {i for i, reach in enumerate(reachable(edges)) if (reach | {i}) & (itself | ring)}
    by_index = {int(s.id[1:]): (s, r) for s, r in zip(listed, results, strict=True)}
    returns = {s.id: s.value for s in listed}
    for i, (spec, result) in by_index.items():
        failed = [j for j in edges[i] if by_index[j][1].is_error]
        if i in itself:
            assert result.error_kind == ErrorKind.DEPENDENCY_CYCLE, result
            assert f"'{spec.id}' depends on itself" in result.content, result
        elif i in ring and result.error_kind == ErrorKind.DEPENDENCY_CYCLE:
            path = re.search(r"\((c\d+(?: -> c\d+)+)\)", result.content)
            assert path, result
            hops = [int(cid[1:]) for cid in path.group(1).split(" -> ")]
            assert hops[0] == hops[-1] == i, result
            assert all(b in rest[a] for a, b in itertools.pairwise(hops)), (result, edges)
        elif i in ring and not streamed:
            pytest.fail(f"{spec.id} is on a cycle: {result}")
        elif i in doomed:  # streamed: a ring may close on a call that already failed
            assert result.error_kind == ErrorKind.DEPENDENCY_FAILED, result
            assert any(f"'c{j}'" in result.content for j in failed), result
        else:
            assert not result.is_error, result
            start, end = REC.span(spec.tag)
            ready = max((REC.span(f"t{j}")[1] for j in edges[i]), default=0)
            assert start == ready, spec
            assert end == start + spec.total
            assert REC.received[spec.tag] == subst(spec.args.get("x"), returns)
            continue
        assert REC.span(spec.tag) is None, spec


def test_overlapping_cycles_all_get_dependency_cycle():
    # a -> b -> a and a -> c -> a: every call is on a cycle.
    calls = [
        ToolCall("a", "free", {"tag": "a"}, depends_on=("b", "c")),
        ToolCall("b", "free", {"tag": "b"}, depends_on=("a",)),
        ToolCall("c", "free", {"tag": "c"}, depends_on=("a",)),
    ]
    results = vrun(lambda: run_all_calls(FAULT_TOOLS, calls))
    assert [r.error_kind for r in results] == [ErrorKind.DEPENDENCY_CYCLE] * 3


# -- 8. the batch's figures -----------------------------------------------------------------------


@given(declared_batches(failing=True, dups=True))
@examples(1000)
def test_figures_match_the_precedence_graph(specs):
    async def main():
        async with Executor(FAULT_TOOLS) as ex:
            batch = ex.batch()
            for spec in specs:
                batch.submit(spec.call())
            await batch.close()
            return batch.stats, batch.results

    stats, results = vrun(main)
    _, ends, ran = simulate(specs)
    shared = [f"c{s.note[1]}" if isinstance(s.note, tuple) else None for s in specs]
    assert [r.duplicate_of for r in results] == shared
    assert [r.started_at is not None for r, d in zip(results, shared, strict=True) if not d] == [
        runs for runs, d in zip(ran, shared, strict=True) if not d
    ]
    critical = max(ends, default=0)
    intervals = [REC.span(tag) for tag in {s.tag for s in specs} if REC.span(tag)]
    assert all(len(REC.intervals[tag]) == 1 for tag in REC.intervals)  # shared: run once
    assert stats.calls == len(specs)
    assert stats.failed == sum(r.is_error for r in results)
    assert stats.deduplicated == sum(d is not None for d in shared)
    assert stats.critical_path == critical
    assert stats.wall_time == critical
    assert stats.busy_time == sum(s.total for s, runs in zip(specs, ran, strict=True) if runs)
    assert stats.peak_concurrency == max_overlap(intervals)


def test_figures_count_a_shared_read_once():
    calls = [ToolCall("a", "rd", {"tag": "t", "d": 3}), ToolCall("b", "rd", {"tag": "t", "d": 3})]

    async def main():
        async with Executor(FAULT_TOOLS) as ex:
            batch = ex.batch()
            for call in calls:
                batch.submit(call)
            await batch.close()
            return batch.stats

    stats = vrun(main)
    assert REC.invocations["rd"] == 1
    assert stats.deduplicated == 1
    assert stats.wall_time == 3
    assert stats.critical_path == 3  # never more than the wall time
    assert stats.busy_time == 3
    assert stats.peak_concurrency == 1
