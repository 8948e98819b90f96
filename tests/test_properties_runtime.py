"""Shared reads, concurrency limits, cancelling a run, and sync tools in real threads."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from typing import Any

import pytest
from _batches import (
    EXECUTOR_TIMEOUT,
    FAULT_TOOLS,
    assert_all_slots_free,
    declared_batches,
    num,
    pick,
    run_all_calls,
    simulate,
)
from _hyp import examples
from _vtime import REC, max_overlap, vrun
from hypothesis import given
from hypothesis import strategies as st

from volley import Executor, ToolCall, ToolResult, tool

# -- 5. identical reads run once -----------------------------------------------------------------


class Seen:
    writes: dict[str, int] = {}  # noqa: RUF012


@tool(reads=lambda a: [f"rec:{a['key']}"])
async def lookup(key: str, d: int = 1) -> str:
    with REC.body("lookup"):
        await asyncio.sleep(d)
    if key == "z":
        raise KeyError(key)
    return f"{key}={Seen.writes.get(key, 0)}"


@tool(effects="read")
async def scan(d: int = 1) -> str:
    with REC.body("scan"):
        await asyncio.sleep(d)
    return repr(sorted(Seen.writes.items()))


@tool(writes=lambda a: [f"rec:{a['key']}"])
async def store(key: str, d: int = 1) -> None:
    with REC.body("store"):
        await asyncio.sleep(d)
    Seen.writes[key] = Seen.writes.get(key, 0) + 1


@tool(effects="write")
async def wall(d: int = 1) -> None:
    with REC.body("wall"):
        await asyncio.sleep(d)


@tool
async def other(d: int = 1) -> None:
    with REC.body("other"):
        await asyncio.sleep(d)


@st.composite
def read_batches(draw: Any) -> list[tuple[ToolCall, tuple[Any, ...] | None]]:
    """Calls, each with the identity of the state a read observes (None for non-reads)."""
    writes = {"a": 0, "b": 0, "z": 0}
    any_writes = 0
    calls = []
    for i in range(num(draw, 0, 25)):
        name = pick(draw, ["lookup"] * 4 + ["scan", "store", "wall", "other"])
        d = num(draw, 1, 2)
        args: dict[str, Any] = {"d": d}
        identity = None
        if name in ("lookup", "store"):
            args["key"] = pick(draw, "abz" if name == "lookup" else "ab")
        if name == "lookup":
            identity = ("lookup", args["key"], d, writes[args["key"]])
        elif name == "scan":
            identity = ("scan", d, any_writes)
        elif name == "store":
            writes[args["key"]] += 1
            any_writes += 1
        elif name == "wall":
            writes = {key: count + 1 for key, count in writes.items()}
            any_writes += 1
        # The same arguments, written in different ways.
        form = pick(draw, ["dict", "default", "text", "string"])
        arguments: Any = dict(args)
        if form == "default" and d == 1:
            del arguments["d"]
        elif form == "text":
            arguments = json.dumps(dict(reversed(args.items())), indent=1)
        elif form == "string":
            arguments["d"] = str(d)
        calls.append((ToolCall(f"c{i}", name, arguments), identity))
    return calls


@given(read_batches())
@examples(1000)
def test_identical_reads_run_once_unless_a_conflicting_write_comes_between(batch):
    async def main():
        Seen.writes = {}
        async with Executor([lookup, scan, store, wall, other]) as ex:
            return await ex.run([call for call, _ in batch])

    results = vrun(main)
    first: dict[tuple[Any, ...], ToolResult] = {}
    for (call, identity), result in zip(batch, results, strict=True):
        if identity is None:
            assert result.duplicate_of is None
            continue
        original = first.setdefault(identity, result)
        if original is result:
            assert result.duplicate_of is None, result
            assert result.attempts == 1, result
        else:
            assert result.duplicate_of == original.call_id, (call, result)
            assert (result.content, result.error_kind) == (original.content, original.error_kind)
        assert result.is_error == (call.name == "lookup" and "z" in str(call.arguments))
    bodies = {name: REC.invocations[name] for name in ("lookup", "scan", "store", "wall", "other")}
    for name in ("lookup", "scan"):
        assert bodies[name] == len({i for _, i in batch if i and i[0] == name})
    for name in ("store", "wall", "other"):  # never shared, even when identical
        assert bodies[name] == sum(call.name == name for call, _ in batch)


def test_a_read_with_a_default_left_out_shares_the_result_of_one_that_spells_it_out():
    calls = [
        ToolCall("a", "rd", {"tag": "t"}),  # d left out: its default is the int 0
        ToolCall("b", "rd", {"tag": "t", "d": 0}),  # d spelled out: validated to 0.0, a float
    ]
    results = vrun(lambda: run_all_calls(FAULT_TOOLS, calls))
    assert [r.error_kind for r in results] == [None, None]
    assert REC.invocations["rd"] == 1
    assert results[1].duplicate_of == "a"


# -- 6. concurrency limits ---------------------------------------------------------------------


@tool(max_concurrency=1)
async def solo(tag: str, d: float = 1) -> None:
    with REC.body("solo", tag):
        await asyncio.sleep(d)


@tool(max_concurrency=2)
async def pair(tag: str, d: float = 1) -> None:
    with REC.body("pair", tag):
        await asyncio.sleep(d)


@tool(effects="write")
async def fence(tag: str, d: float = 1) -> None:
    with REC.body("fence", tag):
        await asyncio.sleep(d)


@tool
async def loose(tag: str, d: float = 1) -> None:
    with REC.body("loose", tag):
        await asyncio.sleep(d)


LIMITS = {"solo": 1, "pair": 2}


@given(
    limit=st.integers(1, 5),
    plan=st.lists(
        st.tuples(st.sampled_from(["solo", "pair", "loose", "loose", "fence"]), st.integers(1, 4)),
        max_size=25,
    ),
    cut=st.integers(0, 25),
)
@examples(1000)
def test_limits_bound_how_many_bodies_run_at_once(limit, plan, cut):
    calls = [ToolCall(f"c{i}", name, {"tag": f"t{i}", "d": d}) for i, (name, d) in enumerate(plan)]
    batches = [calls[:cut], calls[cut:]]  # two batches at once share the executor's limits

    async def main():
        # The timeout is longer than any body, shorter than the queue: waiting is not running.
        async with Executor([solo, pair, fence, loose], max_concurrency=limit, timeout=4.5) as ex:
            return await asyncio.gather(*(ex.run(b) for b in batches))

    results = [r for rs in vrun(main) for r in rs]
    assert [r.error_kind for r in results] == [None] * len(calls)
    assert REC.total_peak <= limit
    for name, cap in LIMITS.items():
        assert REC.peak[name] <= cap
    # At the start as many run as the limits allow. A fence (a barrier) waits for every call
    # before it in its own batch, and every later call of its batch waits for it (the other
    # tools declare nothing, which a barrier excludes too); the other batch goes on.
    prefixes = []
    fences_first = 0
    for b in batches:
        names = [c.name for c in b]
        cut_at = names.index("fence") if "fence" in names else len(names)
        prefixes += names[:cut_at]
        fences_first += cut_at == 0 and bool(names)
    startable = prefixes.count("loose") + fences_first
    startable += sum(min(c, prefixes.count(n)) for n, c in LIMITS.items())
    assert REC.total_peak >= min(limit, startable)
    intervals = [REC.span(f"t{i}") for i in range(len(plan))]
    assert max_overlap(intervals) == REC.total_peak


# -- 7. cancelling a run leaves nothing behind --------------------------------------------------


@given(
    specs=declared_batches(hangs=True),
    at=st.integers(0, 30),
    limit=st.sampled_from([64, 64, 1, 2, 3]),
)
@examples(800)
def test_cancelling_a_run_cancels_every_call_and_leaves_no_task(specs, at, limit):
    cancel_at = at + 0.5

    async def main():
        before = asyncio.all_tasks()
        loop = asyncio.get_running_loop()
        async with Executor(FAULT_TOOLS, timeout=EXECUTOR_TIMEOUT, max_concurrency=limit) as ex:
            run = asyncio.create_task(ex.run([s.call() for s in specs]))
            await asyncio.sleep(cancel_at)
            finished = run.done()
            run.cancel()
            if finished:
                assert len(run.result()) == len(specs)
            else:
                with pytest.raises(asyncio.CancelledError):
                    await run
            assert loop.time() == cancel_at  # cancelled at once, not after the calls end
            assert asyncio.all_tasks() == before
            for spans in REC.intervals.values():
                assert all(end is not None and end <= cancel_at for _, end in spans)
            # The executor is still usable, with all its slots.
            await assert_all_slots_free(ex, limit, cancel_at)
        assert asyncio.all_tasks() == before
        return finished

    finished = vrun(main)
    if limit == 64:
        assert finished == (max(simulate(specs)[1], default=0) < cancel_at)


# -- sync tools, in real threads with small real data ---------------------------------------------


class Ledger:
    data: dict[str, int] = {}  # noqa: RUF012
    active: dict[str, int] = {}  # noqa: RUF012
    overlaps: list[str] = []  # noqa: RUF012
    lock = threading.Lock()


@tool(writes=lambda a: [f"rec:{a['key']}"])
def bump(key: str, by: int) -> int:
    with Ledger.lock:
        Ledger.active[key] = Ledger.active.get(key, 0) + 1
        if Ledger.active[key] > 1:
            Ledger.overlaps.append(key)
    value = Ledger.data.get(key, 0)
    time.sleep(0.001)  # a window for a racing write to be lost
    Ledger.data[key] = value + by
    with Ledger.lock:
        Ledger.active[key] -= 1
    return value + by


@tool(reads=lambda a: [f"rec:{a['key']}"])
def peek(key: str) -> int:
    return Ledger.data.get(key, 0)


@given(st.lists(st.tuples(st.sampled_from("abc"), st.integers(0, 9)), max_size=8))
@examples(25)
def test_sync_tools_in_threads_match_running_one_by_one(plan):
    calls = [
        ToolCall(
            f"c{i}", "peek" if by == 0 else "bump", {"key": key, "by": by} if by else {"key": key}
        )
        for i, (key, by) in enumerate(plan)
    ]
    Ledger.data, Ledger.active, Ledger.overlaps = {}, {}, []
    results = asyncio.run(run_all_calls([bump, peek], calls))
    expected: dict[str, int] = {}
    values = []
    for key, by in plan:
        expected[key] = expected.get(key, 0) + by
        values.append(expected[key])
    assert Ledger.overlaps == []
    assert Ledger.data == {k: v for k, v in expected.items() if v}  # keys only peeked: unset
    assert [r.value for r in results] == values


def test_independent_sync_tools_all_run_at_once():
    barrier = threading.Barrier(6, timeout=5)

    @tool
    def meet(n: int) -> int:
        barrier.wait()  # breaks unless all six run at the same time
        return n

    calls = [ToolCall(f"c{n}", "meet", {"n": n}) for n in range(6)]
    results = asyncio.run(run_all_calls([meet], calls))
    assert [r.value for r in results] == list(range(6))
