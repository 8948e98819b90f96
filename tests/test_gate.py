"""The gate frameworks share: a message's calls held in model order where they conflict.

Property: for random messages over read and write declarations, calls run through the gate (as
tasks, and as threads) never overlap a conflicting call, start in model order where they
conflict, and the outcome equals running them one by one.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest
from _hyp import examples
from hypothesis import given
from hypothesis import strategies as st

from volley import ConfigurationError
from volley.integrations._gate import CallLimit, GateRegistry, TurnGate, declared_tool

CALLS = st.lists(
    st.tuples(st.sampled_from(["read", "write", "none"]), st.sampled_from(["a", "b"])),
    min_size=1,
    max_size=10,
)


def declare(kind: str) -> Any:
    if kind == "read":
        return declared_tool("read", {"reads": lambda args: [args["key"]]})
    if kind == "write":
        return declared_tool("write", {"writes": lambda args: [args["key"]]})
    return declared_tool("free", None)


def plan(calls: list[tuple[str, str]]) -> tuple[TurnGate, list[tuple[str, str, str]]]:
    named = [(f"c{i}", kind, key) for i, (kind, key) in enumerate(calls)]
    gate = TurnGate([(cid, declare(kind).access({"key": key})) for cid, kind, key in named])
    return gate, named


def check(
    named: list[tuple[str, str, str]], log: list[tuple[str, str]], store: dict[str, Any]
) -> None:
    seen: dict[str, str] = {}
    expected: dict[str, list[str]] = {}
    notes: dict[str, str] = {}
    for cid, kind, key in named:  # one by one
        if kind == "write":
            notes[key] = cid
        elif kind == "read":
            expected[cid] = [notes.get(key, "")]
    for cid, kind, _ in named:
        if kind == "read":
            seen[cid] = store["reads"][cid]
    assert {cid: [value] for cid, value in seen.items()} == expected
    running: dict[str, tuple[str, str]] = {}
    kinds = {cid: (kind, key) for cid, kind, key in named}
    for event, cid in log:
        kind, key = kinds[cid]
        if event == "start":
            for other, (other_kind, other_key) in running.items():
                declared = "none" not in (kind, other_kind)  # undeclared overlaps a key's write
                clash = declared and other_key == key and "write" in (kind, other_kind)
                assert not clash, f"{cid} started while {other} ran"
            running[cid] = (kind, key)
        else:
            del running[cid]


@examples(150)
@given(calls=CALLS, threads=st.booleans())
def test_calls_through_the_gate_are_as_if_one_by_one(
    calls: list[tuple[str, str]], threads: bool
) -> None:
    gate, named = plan(calls)
    log: list[tuple[str, str]] = []
    lock = threading.Lock()
    store: dict[str, Any] = {"notes": {}, "reads": {}}

    def body(cid: str, kind: str, key: str) -> None:
        with lock:
            log.append(("start", cid))
        time.sleep(0.001)
        with lock:
            if kind == "write":
                store["notes"][key] = cid
            elif kind == "read":
                store["reads"][cid] = store["notes"].get(key, "")
            log.append(("end", cid))

    if threads:

        def run(cid: str, kind: str, key: str) -> None:
            with gate.hold_sync(cid):
                body(cid, kind, key)

        workers = [threading.Thread(target=run, args=call) for call in reversed(named)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
    else:

        async def run_async(cid: str, kind: str, key: str) -> None:
            async with gate.hold(cid):
                await asyncio.to_thread(body, cid, kind, key)

        async def main() -> None:
            await asyncio.gather(*(run_async(*call) for call in reversed(named)))

        asyncio.run(main())
    check(named, log, store)
    assert gate.finished


def test_a_call_cancelled_while_it_waits_releases_the_calls_after_it() -> None:
    gate, _ = plan([("write", "a"), ("write", "a"), ("write", "a")])

    async def main() -> list[str]:
        order: list[str] = []

        async def run(cid: str) -> None:
            async with gate.hold(cid):
                order.append(cid)
                await asyncio.sleep(0.01)

        first = asyncio.create_task(run("c0"))
        second = asyncio.create_task(run("c1"))
        third = asyncio.create_task(run("c2"))
        await asyncio.sleep(0)
        second.cancel()
        await asyncio.gather(first, third, return_exceptions=True)
        assert second.cancelled()
        return order

    assert asyncio.run(main()) == ["c0", "c2"]
    assert gate.finished  # the wait that was cancelled did not cancel c0's own release


def test_unknown_calls_run_at_once_and_skipped_calls_release() -> None:
    gate, _ = plan([("write", "a"), ("write", "a")])
    assert gate.predecessors("c1") == ["c0"]
    gate.release("c0")  # c0 will never run (the framework refused it)
    with gate.hold_sync("c1"), gate.hold_sync("not-in-the-message"):
        pass
    assert gate.finished
    registry = GateRegistry()
    made = registry.gate(("x", "y"), lambda: plan([("write", "a"), ("read", "a")])[0])
    assert registry.gate(("x", "y"), lambda: pytest.fail("made twice")) is made


def test_a_misspelled_option_is_an_error_not_a_silent_race() -> None:
    with pytest.raises(ConfigurationError, match="unknown volley options \\['write'\\]"):
        declared_tool("save", {"write": ["a"]})


def test_a_call_limit_lets_at_most_n_run_from_threads_and_tasks_and_survives_cancels() -> None:
    limit = CallLimit(2)
    lock = threading.Lock()
    running = {"now": 0, "most": 0}

    def step(delta: int) -> None:
        with lock:
            running["now"] += delta
            running["most"] = max(running["most"], running["now"])

    def in_thread() -> None:
        limit.acquire_sync()
        step(1)
        time.sleep(0.01)
        step(-1)
        limit.release()

    async def in_task() -> None:
        await limit.acquire()
        step(1)
        await asyncio.sleep(0.01)
        step(-1)
        limit.release()

    async def main() -> None:
        threads = [threading.Thread(target=in_thread) for _ in range(4)]
        for thread in threads:
            thread.start()
        cancelled = [asyncio.ensure_future(limit.acquire()) for _ in range(3)]
        await asyncio.sleep(0)
        for waiting in cancelled:
            waiting.cancel()  # waiting, or just handed a slot: either way the slot goes on
        await asyncio.gather(*cancelled, return_exceptions=True)
        await asyncio.wait_for(asyncio.gather(*(in_task() for _ in range(4))), 10)
        for thread in threads:
            thread.join(10)

    asyncio.run(main())
    assert running["most"] == 2
    assert limit._free == 2  # every slot came back
    assert not limit._queue
