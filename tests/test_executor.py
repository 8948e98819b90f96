"""Executor behaviour one feature at a time; the invariants over random batches are properties."""

from __future__ import annotations

import asyncio
import contextvars
import gc
import itertools
import threading
import weakref
from typing import Any

import pytest
from _vtime import vrun
from pydantic import BaseModel

from volley import ErrorKind, Executor, Tool, ToolCall, ToolResult, tool


async def run_calls(tools: list[Any], calls: list[ToolCall], **options: Any) -> list[ToolResult]:
    async with Executor(tools, **options) as ex:
        return await ex.run(calls)


@tool
async def echo(text: str) -> str:
    return text


# -- sync tools ---------------------------------------------------------------------------------


def test_sync_tools_run_at_the_same_time_in_threads() -> None:
    # Each tool waits for the other to have started: run one after the other, both would fail.
    started = {name: threading.Event() for name in ("a", "b")}

    @tool
    def meet(me: str, other: str) -> str:
        started[me].set()
        if not started[other].wait(timeout=5):
            raise RuntimeError("ran alone")
        return threading.current_thread().name

    calls = [
        ToolCall("1", "meet", {"me": "a", "other": "b"}),
        ToolCall("2", "meet", {"me": "b", "other": "a"}),
    ]
    results = asyncio.run(run_calls([meet], calls))
    assert [r.is_error for r in results] == [False, False]
    assert all(r.value.startswith("volley-tool") for r in results)
    assert threading.main_thread().name not in {r.value for r in results}


def test_sync_tools_see_the_callers_context_variables() -> None:
    request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id")

    @tool
    def whoami() -> str:
        return request_id.get()

    async def main() -> list[ToolResult]:
        request_id.set("req-42")
        return await run_calls([whoami], [ToolCall("1", "whoami")])

    assert asyncio.run(main())[0].value == "req-42"


def test_a_hung_sync_tool_times_out_and_its_thread_is_left_to_finish() -> None:
    release = threading.Event()
    finished = threading.Event()

    @tool(timeout=0.05)
    def stuck() -> str:
        release.wait(timeout=10)
        finished.set()
        return "late"

    results = asyncio.run(
        run_calls([stuck, echo], [ToolCall("1", "stuck"), ToolCall("2", "echo", {"text": "x"})])
    )
    assert results[0].error_kind == ErrorKind.TIMEOUT
    assert "0.05 s" in results[0].content
    assert results[1].value == "x"
    assert not finished.is_set()  # the thread could not be stopped...
    release.set()
    assert finished.wait(timeout=5)  # ...and ends on its own once the function returns


# -- timeouts and retries ---------------------------------------------------------------------


def test_timeout_per_tool_overrides_the_executors() -> None:
    @tool(timeout=5.0)
    async def slow_but_allowed() -> str:
        await asyncio.sleep(3)
        return "done"

    @tool
    async def slow() -> str:
        await asyncio.sleep(3)
        return "done"

    @tool(timeout=None)
    async def unlimited() -> str:
        await asyncio.sleep(1000)
        return "done"

    calls = [ToolCall("1", "slow_but_allowed"), ToolCall("2", "slow"), ToolCall("3", "unlimited")]
    results = vrun(lambda: run_calls([slow_but_allowed, slow, unlimited], calls, timeout=1.0))
    assert [r.error_kind for r in results] == [None, ErrorKind.TIMEOUT, None]
    assert results[1].duration == pytest.approx(1.0)
    assert results[1].content == "slow did not finish within 1 s and was stopped."


def test_a_tool_raising_timeout_error_itself_is_an_exception_not_a_timeout() -> None:
    @tool
    async def upstream() -> str:
        raise TimeoutError("upstream took too long")

    (result,) = vrun(lambda: run_calls([upstream], [ToolCall("1", "upstream")]))
    assert result.error_kind == ErrorKind.EXCEPTION
    assert "TimeoutError: upstream took too long" in result.content


def test_transient_failures_of_a_read_tool_are_retried_with_backoff() -> None:
    attempts: list[float] = []

    @tool(effects="read", retries=3)
    async def flaky() -> str:
        attempts.append(asyncio.get_running_loop().time())
        if len(attempts) < 3:
            raise ConnectionError("connection reset")
        return "ok"

    (result,) = vrun(lambda: run_calls([flaky], [ToolCall("1", "flaky")]))
    assert (result.value, result.attempts, result.is_error) == ("ok", 3, False)
    gaps = [b - a for a, b in itertools.pairwise(attempts)]
    assert all(gap > 0 for gap in gaps)  # backoff waited between attempts
    assert gaps[1] > gaps[0] * 1.0  # and grew


def test_retries_stop_at_the_limit_and_say_how_many_attempts_were_made() -> None:
    @tool(idempotent=True, retries=2)
    async def down() -> str:
        raise ConnectionError("refused")

    (result,) = vrun(lambda: run_calls([down], [ToolCall("1", "down")]))
    assert result.attempts == 3
    assert result.error_kind == ErrorKind.EXCEPTION
    assert "after 3 attempts" in result.content
    assert isinstance(result.exception, ConnectionError)


def test_timeouts_are_retried_when_declared_transient() -> None:
    calls = 0

    @tool(effects="read", retries=2, timeout=1.0)
    async def sometimes_slow() -> str:
        nonlocal calls
        calls += 1
        await asyncio.sleep(5 if calls == 1 else 0.1)
        return "ok"

    (result,) = vrun(lambda: run_calls([sometimes_slow], [ToolCall("1", "sometimes_slow")]))
    assert (result.value, result.attempts) == ("ok", 2)


def test_exceptions_not_declared_transient_are_not_retried() -> None:
    @tool(effects="read", retries=5, retry_on=(ConnectionError,))
    async def broken() -> str:
        raise ValueError("bad input")

    (result,) = vrun(lambda: run_calls([broken], [ToolCall("1", "broken")]))
    assert result.attempts == 1
    assert "ValueError: bad input" in result.content


def test_retries_on_a_tool_with_side_effects_must_be_declared_safe() -> None:
    with pytest.raises(ValueError, match="idempotent=True"):

        @tool(effects="write", retries=2)
        def charge(amount: int) -> None: ...

    with pytest.raises(ValueError, match="idempotent=True"):

        @tool(retries=1)
        def undeclared() -> None: ...


# -- results ------------------------------------------------------------------------------------


def test_long_results_are_cut_with_a_note() -> None:
    @tool
    async def big(n: int) -> str:
        return "x" * n

    calls = [ToolCall("1", "big", {"n": 50}), ToolCall("2", "big", {"n": 51})]
    results = vrun(lambda: run_calls([big], calls, max_content_chars=50))
    assert results[0].content == "x" * 50
    assert results[1].content.startswith("x" * 50 + "\n[output cut: 51 characters")
    assert results[1].value == "x" * 51  # Python code still gets everything


def test_values_are_serialized_as_json_and_unserializable_ones_are_errors() -> None:
    @tool
    async def structured() -> dict[str, Any]:
        return {"city": "Paris", "temps": [1.5, 2]}

    @tool
    async def opaque() -> object:
        return object()

    results = vrun(
        lambda: run_calls(
            [structured, opaque], [ToolCall("1", "structured"), ToolCall("2", "opaque")]
        )
    )
    assert results[0].content == '{"city":"Paris","temps":[1.5,2]}'
    assert results[1].error_kind == ErrorKind.INVALID_RESULT
    assert "its effects, if any, have happened" in results[1].content


def test_raw_json_text_and_empty_text_are_accepted_as_arguments() -> None:
    @tool
    async def nothing() -> str:
        return "ok"

    calls = [
        ToolCall("1", "echo", '{"text": "hi"}'),
        ToolCall("2", "nothing", ""),
        ToolCall("3", "echo", '["not", "an", "object"]'),
        ToolCall("4", "echo", '{"text": "unterminated'),
    ]
    results = vrun(lambda: run_calls([echo, nothing], calls))
    assert [r.value for r in results[:2]] == ["hi", "ok"]
    assert "must be a JSON object, got an array" in results[2].content
    assert "not valid JSON" in results[3].content
    assert results[3].error_kind == ErrorKind.INVALID_ARGUMENTS


def test_schema_violations_name_the_field_and_what_was_wrong() -> None:
    @tool
    async def book(room: int, guests: list[str]) -> str:
        return "booked"

    calls = [
        ToolCall("1", "book", {"room": "twelve", "guests": ["a"]}),
        ToolCall("2", "book", {"room": 12}),
        ToolCall("3", "book", {"room": 12, "guests": [], "floor": 3}),
        ToolCall("4", "book", {"room": "12", "guests": ["a"]}),
    ]
    results = vrun(lambda: run_calls([book], calls))
    assert "`room`: Input should be a valid integer" in results[0].content
    assert "'twelve'" in results[0].content
    assert "`guests`: missing required argument" in results[1].content
    assert "`floor`: unexpected argument (the tool takes: room, guests)" in results[2].content
    assert results[3].value == "booked"  # "12" coerces to 12, as pydantic does


def test_unknown_tools_list_the_tools_and_suggest_the_closest() -> None:
    (result,) = vrun(lambda: run_calls([echo], [ToolCall("1", "ecko", {"text": "x"})]))
    assert result.error_kind == ErrorKind.UNKNOWN_TOOL
    assert result.content == "Unknown tool 'ecko'. Did you mean 'echo'? Available tools: echo."


def test_a_reused_call_id_is_an_error_for_the_second_call_only() -> None:
    calls = [
        ToolCall("other", "echo", {"text": "o"}),
        ToolCall("same", "echo", {"text": "a"}),
        ToolCall("same", "echo", {"text": "b"}),
        ToolCall("same", "echo", {"text": "c"}),
    ]
    results = vrun(lambda: run_calls([echo], calls))
    assert [r.value for r in results[:2]] == ["o", "a"]
    for late in results[2:]:
        assert late.error_kind == ErrorKind.DUPLICATE_ID
        assert "already used by call #2 of this batch" in late.content  # the first, from 1


# -- references between calls ------------------------------------------------------------------


def test_refs_at_any_depth_take_the_referenced_value_and_are_validated() -> None:
    @tool
    async def user_id(name: str) -> int:
        return {"ada": 1, "alan": 2}[name]

    @tool
    async def team(ids: list[int], lead: int) -> dict[str, Any]:
        return {"ids": ids, "lead": lead}

    calls = [
        ToolCall(
            "t", "team", {"ids": [{"$ref": "a"}, {"$ref": "b"}], "lead": {"$ref": "a"}}, refs=True
        ),
        ToolCall("a", "user_id", {"name": "ada"}),
        ToolCall("b", "user_id", {"name": "alan"}),
        ToolCall("bad", "team", {"ids": [], "lead": {"$ref": "name"}}, refs=True),
        ToolCall("name", "echo", {"text": "not a number"}),
    ]
    results = vrun(lambda: run_calls([user_id, team, echo], calls))
    assert results[0].value == {"ids": [1, 2], "lead": 1}
    assert results[3].error_kind == ErrorKind.INVALID_ARGUMENTS
    assert "took results of calls name" in results[3].content


def test_a_call_depending_on_itself_or_on_a_missing_call_does_not_run() -> None:
    calls = [
        ToolCall("self", "echo", {"text": "x"}, depends_on=("self",)),
        ToolCall("orphan", "echo", {"text": {"$ref": "ghost"}}, refs=True),
        ToolCall("fine", "echo", {"text": "ok"}),
    ]
    results = vrun(lambda: run_calls([echo], calls))
    assert results[0].error_kind == ErrorKind.DEPENDENCY_CYCLE
    assert results[1].error_kind == ErrorKind.DEPENDENCY_FAILED
    assert "'ghost', which is not a call in this batch" in results[1].content
    assert results[2].value == "ok"


# -- limits -------------------------------------------------------------------------------------


def test_per_tool_limit_queues_calls_of_that_tool_only() -> None:
    running = peak = 0

    @tool(max_concurrency=2)
    async def scarce() -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(1)
        running -= 1

    @tool
    async def plenty() -> None:
        await asyncio.sleep(1)

    calls = [ToolCall(f"s{i}", "scarce") for i in range(6)]
    calls += [ToolCall(f"p{i}", "plenty") for i in range(6)]

    async def main() -> list[ToolResult]:
        async with Executor([scarce, plenty]) as ex:
            batch = ex.batch()
            for call in calls:
                batch.submit(call)
            results = await batch.close()
            assert batch.stats.wall_time == pytest.approx(3.0)
            return results

    results = vrun(main)
    assert peak == 2
    assert all(r.started_at == pytest.approx(0, abs=1e-3) for r in results[6:])


# -- lifecycle ----------------------------------------------------------------------------------


def test_the_executor_must_be_entered_and_a_closed_batch_takes_no_more_calls() -> None:
    ex = Executor([echo])
    with pytest.raises(RuntimeError, match="async with Executor"):
        ex.batch()

    async def main() -> None:
        async with ex:
            batch = ex.batch()
            await batch.close()
            with pytest.raises(RuntimeError, match="closed"):
                batch.submit(ToolCall("1", "echo", {"text": "x"}))

    vrun(main)


def test_leaving_the_executor_cancels_batches_left_open() -> None:
    @tool
    async def forever() -> None:
        await asyncio.sleep(10_000)

    async def main() -> asyncio.Task[Any] | None:
        async with Executor([forever], timeout=None) as ex:
            batch = ex.batch()
            batch.submit(ToolCall("1", "forever"))
            await asyncio.sleep(1)
        assert batch.results[0].error_kind == ErrorKind.CANCELLED
        return next((t for t in asyncio.all_tasks() if t is not asyncio.current_task()), None)

    assert vrun(main) is None


def test_an_error_inside_a_batch_block_cancels_its_calls() -> None:
    @tool
    async def forever() -> None:
        await asyncio.sleep(10_000)

    async def main() -> list[ToolResult]:
        async with Executor([forever], timeout=None) as ex:
            batch = ex.batch()

            async def fail_inside() -> None:
                async with batch:
                    batch.submit(ToolCall("1", "forever"))
                    await asyncio.sleep(1)
                    raise KeyError("boom")

            with pytest.raises(KeyError):
                await fail_inside()
            return batch.results

    assert vrun(main)[0].error_kind == ErrorKind.CANCELLED


def test_cancelling_one_call_fails_its_dependants_and_spares_the_rest() -> None:
    @tool
    async def wait(seconds: float) -> float:
        await asyncio.sleep(seconds)
        return seconds

    async def main() -> list[ToolResult]:
        async with Executor([wait], timeout=None) as ex:
            batch = ex.batch()
            batch.submit(ToolCall("slow", "wait", {"seconds": 100}))
            batch.submit(ToolCall("after", "wait", {"seconds": 1}, depends_on=("slow",)))
            batch.submit(ToolCall("other", "wait", {"seconds": 2}))
            await asyncio.sleep(1)
            batch.cancel("slow")
            return await batch.close()

    results = vrun(main)
    assert [r.error_kind for r in results] == [
        ErrorKind.CANCELLED,
        ErrorKind.DEPENDENCY_FAILED,
        None,
    ]
    assert "'slow' (wait), which did not succeed (cancelled)" in results[1].content


def test_tools_are_still_plain_callables() -> None:
    assert isinstance(echo, Tool)
    assert asyncio.run(echo("hi")) == "hi"


# -- memory ---------------------------------------------------------------------------------------


class _Payload(BaseModel):
    """An argument value a test can watch die."""

    n: int


def test_an_ended_call_lets_go_of_its_arguments_while_its_batch_runs_on() -> None:
    """In a batch of thousands, what ended calls keep alive is what the collector walks again."""
    seen: list[weakref.ref[_Payload]] = []
    release = asyncio.Event()

    @tool
    async def take(payload: _Payload) -> None:
        seen.append(weakref.ref(payload))

    @tool(effects="read")
    async def look(payload: _Payload) -> None:
        seen.append(weakref.ref(payload))

    @tool
    async def wait() -> None:
        await release.wait()

    async def main() -> list[bool]:
        async with Executor([take, look, wait]) as ex, ex.batch() as batch:
            batch.submit(ToolCall("slow", "wait", ""))
            batch.submit(ToolCall("a", "take", '{"payload": {"n": 1}}'))
            batch.submit(ToolCall("b", "look", '{"payload": {"n": 2}}'))
            while batch.result("a") is None or batch.result("b") is None:
                await asyncio.sleep(0)
            gc.collect()
            dead = [ref() is None for ref in seen]
            release.set()
        return dead

    taken_dead, read_dead = asyncio.run(main())
    assert taken_dead  # its task and arguments are gone though the batch is open
    assert not read_dead  # a read keeps them: a later identical read is compared with them


def test_an_ended_declared_read_leaves_the_collector_its_entry_and_result_only() -> None:
    """Its keys, its place among the readers of a key, its group of identical reads: nothing
    the collector walks (or atomic, which it stops walking) once the call has ended."""
    n = 1000

    @tool(reads=lambda a: [f"item:{a['i']}"])
    async def item(i: int) -> None:
        return None

    @tool
    async def wait(release: Any) -> None:
        await release.wait()

    async def main() -> float:
        release = asyncio.Event()
        calls = [ToolCall(f"c{i}", "item", f'{{"i": {i}}}') for i in range(n)]
        async with Executor([item, wait], max_concurrency=2 * n) as ex, ex.batch() as batch:
            batch.submit(ToolCall("slow", "wait", {"release": release}))
            await asyncio.sleep(0)
            gc.collect()
            before = len(gc.get_objects())
            batch.submit_many(calls)
            while any(batch.result(f"c{i}") is None for i in (0, n - 1)):
                await asyncio.sleep(0)
            gc.collect()
            alive = (len(gc.get_objects()) - before) / n
            release.set()
        return alive

    assert asyncio.run(main()) < 2.5  # an `Entry` and a `ToolResult` each
