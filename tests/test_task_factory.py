"""A loop's task factory makes every call's task: volley skips `create_task` only where it may.

Instrumentation (tracing, eager tasks) installs a task factory; a call's task that bypassed it
would go unseen. Without one, volley makes `asyncio.Task` itself, which must behave the same.
"""

from __future__ import annotations

import asyncio
from contextvars import Context
from typing import Any

import pytest

from volley import Executor, ToolCall, tool

made: list[asyncio.Task[Any]] = []
ran_in: list[asyncio.Task[Any] | None] = []


@tool
async def where(i: int) -> int:
    """Say which task ran the call."""
    ran_in.append(asyncio.current_task())
    await asyncio.sleep(0)
    return i


def factory(
    loop: asyncio.AbstractEventLoop, coro: Any, *, context: Context | None = None
) -> asyncio.Task[Any]:
    task = asyncio.Task(coro, loop=loop, context=context)
    made.append(task)
    return task


def calls(n: int) -> list[ToolCall]:
    return [ToolCall(f"c{i}", "where", {"i": i}) for i in range(n)]


@pytest.fixture(autouse=True)
def _fresh() -> None:
    made.clear()
    ran_in.clear()


def test_every_call_runs_in_a_task_of_the_loops_factory() -> None:
    async def main() -> list[Any]:
        asyncio.get_running_loop().set_task_factory(factory)
        async with Executor([where], max_concurrency=3) as ex:  # started at once, and queued
            return await ex.run(calls(10))

    results = asyncio.run(main())
    assert [r.value for r in results] == list(range(10))
    assert len(ran_in) == 10
    assert all(task in made for task in ran_in)
    assert sorted(task.get_name() for task in ran_in) == sorted(f"volley:c{i}" for i in range(10))


def test_without_a_factory_each_call_has_a_task_of_its_own() -> None:
    async def main() -> list[Any]:
        async with Executor([where], max_concurrency=3) as ex:
            return await ex.run(calls(10))

    results = asyncio.run(main())
    assert [r.value for r in results] == list(range(10))
    assert len(set(map(id, ran_in))) == 10
    assert all(type(task) is asyncio.Task for task in ran_in)
    assert not made
    # Named after its call (started at once, or queued for a slot): a task dump shows which.
    assert sorted(task.get_name() for task in ran_in) == sorted(f"volley:c{i}" for i in range(10))


def test_a_factory_set_between_batches_applies_from_the_next() -> None:
    async def main() -> None:
        async with Executor([where]) as ex:
            await ex.run(calls(2))
            assert not made
            asyncio.get_running_loop().set_task_factory(factory)
            await ex.run(calls(2))

    asyncio.run(main())
    assert len(ran_in) == 4
    assert [task in made for task in ran_in] == [False, False, True, True]
