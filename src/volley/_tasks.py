"""Making a call's task: the loop's own way, with Python frames fewer where that is the same."""

from __future__ import annotations

import asyncio

__all__ = ["direct_task_loop"]


def direct_task_loop(loop: asyncio.AbstractEventLoop) -> asyncio.AbstractEventLoop | None:
    """`loop` if `asyncio.Task(coro, loop=loop, context=...)` is all its `create_task` would do.

    With no task factory, `BaseEventLoop.create_task` checks that the loop is open (it is: it
    runs us) and makes an `asyncio.Task`; making the task directly saves two Python frames on
    every call's path (and a `functools.partial` holding `loop=` would copy its keywords on every
    call). A loop of another kind, or one with a task factory (eager tasks, instrumentation),
    answers `None`: its own `create_task` makes every task. Read when a batch starts, so a
    factory set in the middle of a batch applies from the next one.
    """
    if type(loop).create_task is asyncio.BaseEventLoop.create_task and (
        loop.get_task_factory() is None
    ):
        return loop
    return None
