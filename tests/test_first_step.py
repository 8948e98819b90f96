"""A body's first step runs in its call's own task, before any deadline is armed.

An async body that returns without waiting costs no deadline; one that waits gets its deadline
counted from before its first step, and from then on behaves exactly as under `await` with
`asyncio.timeout`: the same outcome at the same instant, whatever it does with cancellations.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import time
from collections.abc import Awaitable, Coroutine
from typing import Any

import anyio
from _hyp import examples
from _vtime import vrun
from hypothesis import given
from hypothesis import strategies as st

from volley import ErrorKind, Executor, InProcessBackend, Tool, ToolCall, ToolResult, tool
from volley._invoke import _resume

Step = tuple[str, float]

# Integer sleeps, deadlines at .5 and cancellations at .25: no two events ever tie.
STEPS = st.one_of(
    st.tuples(st.just("sleep"), st.sampled_from([0.0, 1.0, 2.0])),
    st.tuples(st.just("guard"), st.sampled_from([1.0, 2.0])),  # swallows a cancellation
    st.tuples(st.just("raise"), st.just(0.0)),
)
TIMEOUTS = st.sampled_from([None, 0.5, 1.5, 2.5, 3.5])
CANCELS = st.sampled_from([None, 0.25, 1.25, 2.25, 3.25])


async def perform(steps: list[Step]) -> str:
    for op, seconds in steps:
        if op == "sleep":
            await asyncio.sleep(seconds)
        elif op == "guard":
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.sleep(seconds)
        else:
            raise ValueError("boom")
    return "done"


async def program(steps: list[tuple[str, float]]) -> str:
    return await perform(steps)


PLAIN = tool(program)
# Retries (of an error the program never raises) take the runner's general path.
RETRIED = tool(program, name="program_retried", retries=1, retry_on=(KeyError,), idempotent=True)


def outcome_of(result: ToolResult) -> tuple[str, Any]:
    if not result.is_error:
        return ("value", result.value)
    kinds = {
        ErrorKind.TIMEOUT: "timeout",
        ErrorKind.CANCELLED: "cancelled",
        ErrorKind.EXCEPTION: "exception",
    }
    return (kinds[result.error_kind], None)  # type: ignore[index]


async def through_volley(
    name: str, steps: list[Step], timeout: float | None, cancel_at: float | None
) -> tuple[tuple[str, Any], float]:
    loop = asyncio.get_running_loop()
    async with Executor([PLAIN, RETRIED], timeout=timeout) as ex:
        batch = ex.batch()
        began = loop.time()
        batch.submit(ToolCall("c", name, {"steps": steps}))
        timer = loop.call_later(cancel_at, batch.cancel, "c") if cancel_at is not None else None
        [result] = await batch.close()
        ended = loop.time() - began
        if timer is not None:
            timer.cancel()
    return outcome_of(result), ended


async def under_asyncio(
    steps: list[Step], timeout: float | None, cancel_at: float | None
) -> tuple[tuple[str, Any], float]:
    loop = asyncio.get_running_loop()

    async def guarded() -> str:
        if timeout is None:
            return await perform(steps)
        async with asyncio.timeout(timeout):
            return await perform(steps)

    began = loop.time()
    task = asyncio.create_task(guarded())
    timer = loop.call_later(cancel_at, task.cancel) if cancel_at is not None else None
    outcome: tuple[str, Any]
    try:
        outcome = ("value", await task)
    except TimeoutError:
        outcome = ("timeout", None)
    except asyncio.CancelledError:
        outcome = ("cancelled", None)
    except ValueError:
        outcome = ("exception", None)
    ended = loop.time() - began
    if timer is not None:
        timer.cancel()
    return outcome, ended


@examples(300)
@given(
    steps=st.lists(STEPS, max_size=4),
    timeout=TIMEOUTS,
    cancel_at=CANCELS,
    name=st.sampled_from(["program", "program_retried"]),
)
def test_a_body_ends_as_it_would_under_await_with_asyncio_timeout(
    steps: list[Step], timeout: float | None, cancel_at: float | None, name: str
) -> None:
    async def main() -> tuple[Any, Any]:
        return (
            await through_volley(name, steps, timeout, cancel_at),
            await under_asyncio(steps, timeout, cancel_at),
        )

    got, expected = vrun(main)
    assert got == expected


class JumpingLoop(asyncio.SelectorEventLoop):
    """A loop whose clock a body can move on at once, as a long synchronous step would."""

    offset = 0.0

    def time(self) -> float:
        return time.monotonic() + self.offset


def test_a_deadline_counts_the_first_step_even_when_armed_after_it() -> None:
    moved = asyncio.Event()

    @tool
    async def stall() -> str:
        loop = asyncio.get_running_loop()
        assert isinstance(loop, JumpingLoop)
        loop.offset += 1000.0  # the first step "took" 1000 s: the 5 s deadline has passed
        moved.set()
        await asyncio.Event().wait()  # never set: only the deadline ends this
        return "unreachable"

    async def main() -> ToolResult:
        async with Executor([stall], timeout=5.0) as ex:
            running = asyncio.ensure_future(ex.run([ToolCall("s", "stall", {})]))
            await moved.wait()
            # A deadline counted from after the first step would be 1005 s off, not past.
            async with asyncio.timeout(2.0):
                [result] = await running
            return result

    loop = JumpingLoop()
    try:
        result = loop.run_until_complete(main())
    finally:
        loop.close()
    assert result.error_kind is ErrorKind.TIMEOUT


def test_every_step_of_a_body_runs_in_its_calls_own_task_so_anyio_scopes_hold() -> None:
    seen: dict[str, list[asyncio.Task[Any] | None]] = {}
    note = contextvars.ContextVar("note", default="unset")

    @tool
    async def scoped(name: str, wait: float) -> str:
        tasks = seen.setdefault(name, [])
        tasks.append(asyncio.current_task())
        note.set(name)
        with anyio.move_on_after(wait):  # a cancel scope entered in the first step...
            tasks.append(asyncio.current_task())
            await asyncio.sleep(10)
        tasks.append(asyncio.current_task())  # ...and left after the call's task was woken
        with anyio.fail_after(5):
            await asyncio.sleep(0)
        return note.get()

    async def main() -> list[ToolResult]:
        async with Executor([scoped], timeout=30.0) as ex:
            return await ex.run(
                [ToolCall(n, "scoped", {"name": n, "wait": w}) for n, w in [("a", 0), ("b", 1)]]
            )

    results = vrun(main)
    assert [r.value for r in results] == ["a", "b"], results
    outer = {id(t) for ts in seen.values() for t in ts}
    assert len(outer) == 2, "each call ran every step in one task of its own"


def test_a_resumed_body_is_closed_with_its_resumption() -> None:
    closed: list[str] = []

    async def body() -> None:
        try:
            await asyncio.sleep(10)
        finally:
            closed.append("body")

    async def main() -> list[str]:
        coro = body()
        waits_on = coro.send(None)
        resumption: Coroutine[Any, Any, Any] = _resume(coro, waits_on)
        assert resumption.send(None) is waits_on  # it hands the task what the body waits on
        resumption.close()
        seen = list(closed)  # while `coro` is still held: not closed by the collector
        waits_on.cancel()
        del coro
        return seen

    assert asyncio.run(main()) == ["body"]


class Handing(InProcessBackend):
    """Hands out an awaitable of its own (a future), not the tool's coroutine."""

    def start(self, tool: Tool[..., Any], kwargs: dict[str, Any]) -> Awaitable[Any]:
        loop = asyncio.get_running_loop()
        done: asyncio.Future[Any] = loop.create_future()
        loop.call_soon(done.set_result, f"{tool.name} via a future")
        return done


def test_a_backends_own_awaitable_is_awaited_under_its_deadline() -> None:
    @tool
    async def far() -> str:
        return "never called"

    async def main() -> list[ToolResult]:
        async with Executor([far], backend=Handing(), timeout=1.0) as ex:
            return await ex.run([ToolCall("f", "far", {})])

    [result] = vrun(main)
    assert result.value == "far via a future"
