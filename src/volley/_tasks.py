"""Making a call's task: the loop's own way, with one Python frame less where that is the same."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from functools import partial
from typing import Any, TypeAlias

__all__ = ["TaskMaker", "task_maker"]

TaskMaker: TypeAlias = Callable[..., "asyncio.Task[Any]"]
"""Called as `make(coroutine, context=context)`, as `loop.create_task` is."""


def task_maker(loop: asyncio.AbstractEventLoop) -> TaskMaker:
    """`asyncio.Task` itself when that is all the loop's `create_task` would do, else the method.

    With no task factory, `BaseEventLoop.create_task` checks that the loop is open (it is: it
    runs us) and makes an `asyncio.Task`; calling the class directly saves two Python frames on
    every call's path. A loop of another kind, or one with a task factory (eager tasks,
    instrumentation), keeps its own method: read when a batch starts, so a factory set in the
    middle of a batch applies from the next one.
    """
    if type(loop).create_task is asyncio.BaseEventLoop.create_task and (
        loop.get_task_factory() is None
    ):
        return partial(asyncio.Task, loop=loop)
    return loop.create_task
