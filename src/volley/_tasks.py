"""Making a call's task: the loop's own way, with Python frames fewer where that is the same."""

from __future__ import annotations

import asyncio

__all__ = ["makes_plain_tasks"]


def makes_plain_tasks(loop: asyncio.AbstractEventLoop) -> bool:
    """Whether `loop.create_task(coro, context=c)` is `asyncio.Task(coro, context=c)`.

    With no task factory, `BaseEventLoop.create_task` checks that the loop is open (it is: it
    runs us) and makes an `asyncio.Task`; making the task directly saves two Python frames on
    every call's path, and leaving out `loop=` (the task takes the running loop, in C) saves
    building a dict of keywords. A loop of another kind, or one with a task factory (eager
    tasks, instrumentation), answers no: its own `create_task` makes every task. Read when a
    batch starts, so a factory set in the middle of a batch applies from the next one.
    """
    return type(loop).create_task is asyncio.BaseEventLoop.create_task and (
        loop.get_task_factory() is None
    )
