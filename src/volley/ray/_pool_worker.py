"""What runs in an `AgentPool` worker: one agent, many of its runs at once, results sent as bytes.

A worker is an async Ray actor. It makes its agent with the pool's `make_agent` (on its own event
loop, where the agent's clients and journal will live) and runs every run it is sent
concurrently. What it sends back is pickled here, by `dumps`, not by Ray: volley's exceptions
carry a transcript their constructors do not take back (`MaxTurnsExceeded(3, messages, stats)`
pickles, but does not unpickle, by the default rules), and a tool's return value or exception
inside a result may not pickle at all. `dumps` sends every exception by its type, arguments and
attributes; what still cannot go is replaced by a description of it, never lost silently.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import io
import os
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import ray
from ray import cloudpickle

from .._agent import Agent
from .._call import ToolResult
from .._errors import RunError
from .._messages import Message, ToolReturns
from .._result import RunResult
from ..journal import LEASE_SECONDS, RunExists, RunHeld, RunNotFound

__all__ = ["PoolWorker", "WorkerInfo", "dumps", "loads"]


@dataclass(frozen=True, slots=True)
class WorkerInfo:
    """Who a worker is: where it runs, and where its agent records runs."""

    pid: int
    node_id: str
    """The Ray node it runs on."""
    journal: str | None
    """The agent's journal URL, or `None` without one."""
    shared_journal: bool
    """Whether other processes can read that journal (not `memory`): runs can then be resumed
    by another worker after this one dies."""


class PoolWorker:
    """An agent hosting many runs at once (the body of the pool's async Ray actor)."""

    def __init__(self, make_agent: Callable[[], Agent]) -> None:
        self._make_agent = make_agent
        self._agent: Agent | None = None

    async def start(self) -> WorkerInfo:
        """Make the agent and open its tool sources; who this worker is."""
        agent = self._make_agent()
        if not isinstance(agent, Agent):
            raise TypeError(f"make_agent must return a volley.Agent, not {type(agent).__name__}")
        await agent.__aenter__()
        self._agent = agent
        journal = agent.journal
        url = journal.url if journal is not None else None
        return WorkerInfo(
            pid=os.getpid(),
            node_id=ray.get_runtime_context().get_node_id(),
            journal=url,
            shared_journal=url is not None and ":memory:" not in url and url != "memory",
        )

    async def run(self, run_id: str, prompt: str, resume: bool) -> bytes:
        """One run, to its end: its `RunResult` or its exception, pickled by `dumps`.

        `resume`: the run was on a worker that died; go on with it from the journal (or start
        it, if it never got there).
        """
        agent = self._agent
        assert agent is not None, "start() first"
        try:
            if resume:
                result = await self._resume(agent, run_id, prompt)
            else:
                try:
                    result = await agent.run(prompt, run_id=run_id)
                except RunExists:  # begun by an earlier pool that did not see it finish
                    result = await self._resume(agent, run_id, prompt)
        except Exception as exc:  # every failure goes back in the run's slot
            return dumps(_failed(exc))
        return dumps(_finished(result))

    async def _resume(self, agent: Agent, run_id: str, prompt: str) -> RunResult:
        """Resume the run; wait while a lease still holds it (a process on another host)."""
        deadline = time.monotonic() + 2 * LEASE_SECONDS + 5
        while True:
            try:
                return await agent.resume(run_id)
            except RunNotFound:  # its worker died before it recorded anything: start it
                return await agent.run(prompt, run_id=run_id)
            except RunHeld as exc:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise
                until = exc.info.lease_until or 0.0
                await asyncio.sleep(min(left, max(0.2, min(2.0, until - time.time()))))

    async def close(self) -> None:
        """Close the agent (its journal commits what waits)."""
        agent, self._agent = self._agent, None
        if agent is not None:
            await agent.aclose()


def _finished(result: RunResult) -> tuple[str, Any]:
    return ("result", result)


def _failed(exc: Exception) -> tuple[str, Any]:
    where = f"in an AgentPool worker (pid {os.getpid()})"
    text = "".join(traceback.format_exception(exc)).rstrip()
    with contextlib.suppress(Exception):  # an exception that refuses notes goes without one
        exc.add_note(f"raised {where}; its traceback there:\n{text}")
    return ("error", exc)


# -- pickling ---------------------------------------------------------------------------------


def _rebuild_exception(
    kind: type[BaseException],
    args: tuple[Any, ...],
    state: dict[str, Any],
    cause: BaseException | None,
    suppress: bool,
) -> BaseException:
    """An exception as it was sent: its type and args, its attributes, its cause."""
    exc = kind.__new__(kind, *args)
    exc.args = args
    for name, value in state.items():
        try:
            setattr(exc, name, value)
        except (AttributeError, TypeError):  # a read-only attribute: it was computed anyway
            continue
    exc.__cause__ = cause
    exc.__suppress_context__ = suppress
    return exc


class _Pickler(cloudpickle.CloudPickler):
    """cloudpickle, with every exception sent as `_rebuild_exception` takes it back."""

    def reducer_override(self, obj: Any) -> Any:
        if isinstance(obj, BaseException):
            state = dict(getattr(obj, "__dict__", {}))
            return (
                _rebuild_exception,
                (type(obj), obj.args, state, obj.__cause__, obj.__suppress_context__),
            )
        return super().reducer_override(obj)  # type: ignore[no-untyped-call]


def _pickle(value: Any) -> bytes:
    buffer = io.BytesIO()
    _Pickler(buffer).dump(value)  # type: ignore[no-untyped-call]
    return buffer.getvalue()


def dumps(outcome: tuple[str, Any]) -> bytes:
    """`("result", RunResult)` or `("error", exception)` as bytes, whatever they hold.

    What does not pickle is replaced: a tool's return value by its `repr`, an exception by a
    `RuntimeError` with its type and message; an error that still cannot go becomes a
    `RuntimeError` saying so.
    """
    with contextlib.suppress(Exception):  # if not, again with what pickles
        return _pickle(outcome)
    kind, value = outcome
    try:
        if isinstance(value, RunResult):
            portable: Any = dataclasses.replace(value, messages=_portable_messages(value.messages))
        else:
            portable = _portable_exception(value)
        return _pickle((kind, portable))
    except Exception as exc:  # the last resort says why
        plain = RuntimeError(
            f"the outcome of a run could not be sent from its AgentPool worker "
            f"({type(exc).__name__}: {exc}); it was: {_describe(value)}"
        )
        return _pickle(("error", plain))


def loads(data: bytes) -> tuple[str, Any]:
    """What `dumps` sent."""
    outcome: tuple[str, Any] = cloudpickle.loads(data)
    return outcome


def _portable_messages(messages: list[Message]) -> list[Message]:
    return [
        ToolReturns(tuple(_portable_result(r) for r in m.results))
        if isinstance(m, ToolReturns)
        else m
        for m in messages
    ]


def _portable_result(result: ToolResult) -> ToolResult:
    value, exception = result.value, result.exception
    if not _pickles(value):
        value = f"<not sent from the Ray worker: {_describe(value)}>"
    if exception is not None and not _pickles(exception):
        exception = RuntimeError(_describe(exception))
    if value is result.value and exception is result.exception:
        return result
    return dataclasses.replace(result, value=value, exception=exception)


def _portable_exception(exc: BaseException) -> BaseException:
    """The exception with what does not pickle left out (a `RunError` keeps its transcript)."""
    if isinstance(exc, RunError):
        exc.messages = _portable_messages(exc.messages)
        if _pickles(exc):
            return exc
    plain = RuntimeError(f"{_describe(exc)} (the exception itself could not be sent)")
    plain.__notes__ = [n for n in getattr(exc, "__notes__", []) if isinstance(n, str)]
    return plain


def _pickles(value: Any) -> bool:
    try:
        _pickle(value)
    except Exception:  # any failure is a no
        return False
    return True


def _describe(value: Any) -> str:
    if isinstance(value, BaseException):
        return f"{type(value).__module__}.{type(value).__qualname__}: {value}"
    try:
        text = repr(value)
    except Exception:  # a repr that fails still has a type
        text = f"<{type(value).__qualname__}>"
    return text if len(text) <= 500 else text[:500] + "..."
