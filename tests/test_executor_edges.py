"""Edges where a batch used to break its promise: each fails on a runtime without the fix.

Barriers against undeclared calls, sync threads that outlive their timeout, keys given as one
string, `$ref` in what a model writes, cancelled originals of shared reads, a timeout racing an
outside cancellation, tools that return generators or raise `SystemExit`.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest
from _vtime import REC, vrun

from volley import ErrorKind, Executor, ToolCall, ToolResult, tool
from volley._deadlines import Deadlines


async def run(tools: list[Any], calls: list[ToolCall], **options: Any) -> list[ToolResult]:
    async with Executor(tools, **options) as ex:
        return await ex.run(calls)


@tool
async def loose(tag: str, d: float = 1) -> str:
    with REC.body("loose", tag):
        await asyncio.sleep(d)
    return tag


@tool(effects="write")
async def barrier(tag: str, d: float = 1) -> str:
    with REC.body("barrier", tag):
        await asyncio.sleep(d)
    return tag


@tool(effects="read")
async def reader(tag: str, d: float = 1, x: Any = None) -> str:
    with REC.body("reader", tag, x):
        await asyncio.sleep(d)
    return tag


def test_a_write_barrier_runs_alone_even_among_calls_that_declare_nothing() -> None:
    calls = [
        ToolCall("a", "loose", {"tag": "a"}),
        ToolCall("b", "barrier", {"tag": "b"}),
        ToolCall("c", "loose", {"tag": "c"}),
        ToolCall("d", "loose", {"tag": "d"}),
    ]
    results = vrun(lambda: run([loose, barrier], calls))
    assert [r.error_kind for r in results] == [None] * 4
    assert [REC.span(t) for t in "abcd"] == [(0, 1), (1, 2), (2, 3), (2, 3)]


def test_a_string_of_keys_is_one_key_so_a_reader_waits_for_the_writer() -> None:
    @tool(writes="note:a")
    async def write_note(tag: str) -> None:
        with REC.body("write_note", tag):
            await asyncio.sleep(1)

    @tool(reads=["note:a"])
    async def read_note(tag: str) -> None:
        with REC.body("read_note", tag):
            await asyncio.sleep(1)

    calls = [ToolCall("w", "write_note", {"tag": "w"}), ToolCall("r", "read_note", {"tag": "r"})]
    vrun(lambda: run([write_note, read_note], calls))
    assert [REC.span("w"), REC.span("r")] == [(0, 1), (1, 2)]


def test_ref_in_what_a_model_writes_is_data_not_a_dependency() -> None:
    schema = {"type": "object", "properties": {"user": {"$ref": "#/definitions/user"}}}
    calls = [
        ToolCall("a", "reader", {"tag": "a", "x": {"schema": schema}}),
        ToolCall("b", "reader", {"tag": "b", "x": {"$ref": "a"}}),  # a model cannot make b wait
        ToolCall("c", "reader", '{"tag": "c", "x": {"$ref": "nothing"}}'),
    ]
    results = vrun(lambda: run([reader], calls))
    assert [r.error_kind for r in results] == [None] * 3
    assert REC.received == {"a": {"schema": schema}, "b": {"$ref": "a"}, "c": {"$ref": "nothing"}}
    assert {REC.span(t) for t in "abc"} == {(0, 1)}


def test_opted_in_refs_still_take_the_referenced_value() -> None:
    calls = [
        ToolCall("a", "reader", {"tag": "a"}),
        ToolCall("b", "reader", {"tag": "b", "x": {"$ref": "a"}}, refs=True),
    ]
    vrun(lambda: run([reader], calls))
    assert REC.received["b"] == "a"
    assert REC.span("b") == (1, 2)


def test_a_shared_read_runs_itself_when_only_its_original_is_cancelled() -> None:
    async def main() -> list[ToolResult]:
        async with Executor([reader, barrier]) as ex:
            batch = ex.batch()
            batch.submit_many(
                [
                    ToolCall("a", "reader", {"tag": "x", "d": 2}),
                    ToolCall("b", "reader", {"tag": "x", "d": 2}),  # identical: shares a's
                    ToolCall("w", "barrier", {"tag": "w"}),
                ]
            )
            await asyncio.sleep(1)
            batch.cancel("a")
            return await batch.close()

    a, b, w = vrun(main)
    assert a.error_kind == ErrorKind.CANCELLED
    assert b.error_kind is None
    assert b.duplicate_of is None
    assert b.value == "x"
    assert w.error_kind is None
    # b ran on its own after a was cancelled, and the barrier still waited for it.
    assert REC.intervals["x"] == [[0, 1], [1, 3]]
    assert REC.span("w") == (3, 4)


def test_a_named_duplicate_is_cancelled_itself() -> None:
    async def main() -> list[ToolResult]:
        async with Executor([reader]) as ex:
            batch = ex.batch()
            batch.submit_many(
                [ToolCall("a", "reader", {"tag": "x"}), ToolCall("b", "reader", {"tag": "x"})]
            )
            batch.cancel("b")
            return await batch.close()

    a, b = vrun(main)
    assert a.error_kind is None
    assert b.error_kind == ErrorKind.CANCELLED


def test_a_timeout_does_not_swallow_a_cancellation_from_outside() -> None:
    outcome: dict[str, Any] = {}

    async def main() -> None:
        deadlines = Deadlines(asyncio.get_running_loop())

        async def attempt() -> None:
            deadline = deadlines.start(1.0)
            try:
                await asyncio.sleep(5)
            except asyncio.CancelledError:
                outcome["claimed"] = deadline.claim_expiry()
                outcome["cancelling"] = asyncio.current_task().cancelling()  # type: ignore[union-attr]
                raise
            finally:
                deadline.finish()

        task = asyncio.create_task(attempt())
        loop = asyncio.get_running_loop()
        loop.call_at(loop.time() + 1.0, task.cancel)  # an outside cancel, at the deadline itself
        with pytest.raises(asyncio.CancelledError):
            await task
        deadlines.close()

    vrun(main)
    assert outcome == {"claimed": False, "cancelling": 1}


def test_a_deadline_whose_cancellation_a_body_caught_is_taken_back_when_it_ends() -> None:
    async def main() -> list[int]:
        deadlines = Deadlines(asyncio.get_running_loop())
        task = asyncio.current_task()
        assert task is not None
        counts = []
        for outcome in ("returns", "raises"):
            deadline = deadlines.start(1.0)
            try:
                try:
                    await asyncio.sleep(5)
                except asyncio.CancelledError:  # the body catches it and ends all the same
                    if outcome == "raises":
                        raise KeyError(outcome) from None
            except KeyError:
                pass
            finally:
                deadline.finish()
            counts.append(task.cancelling())
        deadlines.close()
        return counts

    assert vrun(main) == [0, 0]


def test_a_tool_that_returns_a_generator_or_raises_system_exit_gets_a_result() -> None:
    @tool
    def numbers() -> Any:
        return (i for i in range(3))

    @tool
    def leave() -> None:
        raise SystemExit(3)

    @tool
    async def leave_async() -> None:
        raise SystemExit(4)

    @tool
    async def interrupt() -> None:
        raise KeyboardInterrupt

    @tool
    async def fine() -> str:
        return "fine"

    calls = [
        ToolCall("g", "numbers"),
        ToolCall("s", "leave"),
        ToolCall("a", "leave_async"),
        ToolCall("k", "interrupt"),
        ToolCall("ok", "fine"),
    ]
    results = asyncio.run(run([numbers, leave, leave_async, interrupt, fine], calls))
    g, s, a, k, ok = results
    assert g.error_kind is None
    assert g.content == "[0,1,2]"
    assert s.error_kind == a.error_kind == k.error_kind == ErrorKind.EXCEPTION
    assert "SystemExit: 3" in s.content
    assert "SystemExit: 4" in a.content
    assert "KeyboardInterrupt" in k.content
    assert ok.error_kind is None
    assert ok.value == "fine"


# -- sync tools whose threads outlive their timeout ------------------------------------------------

store: dict[str, str] = {}
landed: list[str] = []


@tool(writes=lambda a: [f"key:{a['key']}"], timeout=0.1)
def put(key: str, value: str, delay: float = 0, gate: Any = None) -> str:
    if gate is not None:
        GATES[gate].wait(5)
    time.sleep(delay)
    store[key] = value
    landed.append(value)
    return value


GATES: dict[str, threading.Event] = {}


def test_a_sync_write_that_times_out_keeps_its_key_until_its_thread_returns() -> None:
    store.clear()
    landed.clear()
    calls = [
        ToolCall("1", "put", {"key": "k", "value": "first", "delay": 0.15}),
        ToolCall("2", "put", {"key": "k", "value": "second"}),
        ToolCall("3", "put", {"key": "other", "value": "free"}),
    ]
    first, second, other = asyncio.run(run([put], calls))
    assert first.error_kind == ErrorKind.TIMEOUT
    assert "still running in its thread" in first.content
    assert "may yet take effect" in first.content
    assert second.error_kind is None
    assert other.error_kind is None
    # The timed-out write landed before the next write of its key ran: as if one by one; the
    # write of another key did not wait for it.
    assert store == {"k": "second", "other": "free"}
    assert landed == ["free", "first", "second"]


def test_a_later_batch_also_waits_for_a_thread_that_outlived_its_timeout() -> None:
    writes: list[str] = []
    both_landed = threading.Event()

    @tool(writes=lambda a: [f"key:{a['key']}"], timeout=0.1, name="put")
    def slow_put(key: str, value: str, k: int = 0) -> str:
        time.sleep(0.15 if k else 0)
        writes.append(value)
        if len(writes) == 2:
            both_landed.set()
        return value

    async def go() -> tuple[ToolResult, ToolResult]:
        async with Executor([slow_put]) as ex:
            (first,) = await ex.run([ToolCall("1", "put", {"k": 1, "key": "k", "value": "a"})])
            (second,) = await ex.run([ToolCall("2", "put", {"key": "k", "value": "b"})])
            return first, second

    first, second = asyncio.run(go())
    assert both_landed.wait(5)
    assert first.error_kind == ErrorKind.TIMEOUT
    assert second.error_kind is None
    assert writes == ["a", "b"]


def test_a_conflicting_call_gives_up_on_a_hung_thread_after_its_own_timeout() -> None:
    store.clear()
    GATES["hung"] = threading.Event()
    calls = [
        ToolCall("1", "put", {"key": "k", "value": "first", "gate": "hung"}),
        ToolCall("2", "put", {"key": "k", "value": "second"}),
    ]
    try:
        first, second = asyncio.run(run([put], calls))
    finally:
        GATES["hung"].set()
    assert first.error_kind == second.error_kind == ErrorKind.TIMEOUT
    assert "never ran" in second.content
    assert "'1' (put)" in second.content
    assert second.started_at is None
    assert second.attempts == 0
    assert "k" not in store or store["k"] == "first"


def test_a_sync_timeout_counts_from_when_a_thread_takes_the_call_up() -> None:
    @tool(timeout=0.3)
    def nap(i: int) -> int:
        time.sleep(0.1)
        return i

    # One thread: the third call waits 0.2 s for it, which is not time it ran.
    calls = [ToolCall(str(i), "nap", {"i": i}) for i in range(3)]
    results = asyncio.run(run([nap], calls, max_threads=1))
    assert [r.error_kind for r in results] == [None] * 3
    assert [r.value for r in results] == [0, 1, 2]


def test_a_sync_call_that_never_gets_a_thread_says_it_never_ran() -> None:
    GATES["all"] = threading.Event()

    @tool(timeout=0.1)
    def hog() -> None:
        GATES["all"].wait(5)

    @tool(timeout=0.1)
    def quick() -> str:
        return "ran"

    try:
        hogged, starved = asyncio.run(
            run([hog, quick], [ToolCall("1", "hog"), ToolCall("2", "quick")], max_threads=1)
        )
    finally:
        GATES["all"].set()
    assert hogged.error_kind == ErrorKind.TIMEOUT
    assert starved.error_kind == ErrorKind.TIMEOUT
    assert "never ran" in starved.content
    assert "worker thread" in starved.content
    assert starved.attempts == 0


def test_a_sync_call_cancelled_while_its_thread_runs_says_it_may_take_effect() -> None:
    GATES["cancel"] = threading.Event()

    async def main() -> list[ToolResult]:
        async with Executor([put]) as ex:
            batch = ex.batch()
            batch.submit(ToolCall("1", "put", {"key": "c", "value": "v", "gate": "cancel"}))
            await asyncio.sleep(0.05)
            batch.cancel("1")
            return await batch.close()

    try:
        (result,) = asyncio.run(main())
    finally:
        GATES["cancel"].set()
    assert result.error_kind == ErrorKind.CANCELLED
    assert "may yet take effect" in result.content


def test_identical_reads_share_but_values_equal_only_in_python_do_not() -> None:
    # `1 == 1.0 == True` in Python, but a model sent three different values: each runs.
    values: list[Any] = [1, 1.0, True, 1, "1", None, None, [1], [1]]
    calls = [
        ToolCall(f"c{i}", "reader", {"tag": "t", "d": 0, "x": value})
        for i, value in enumerate(values)
    ]
    results = vrun(lambda: run([reader], calls))
    shared = {r.call_id: r.duplicate_of for r in results if r.duplicate_of}
    assert shared == {"c3": "c0", "c6": "c5", "c8": "c7"}
    assert REC.invocations["reader"] == 6
