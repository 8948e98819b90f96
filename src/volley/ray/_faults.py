"""What a Ray failure means for a call: the tool's own exception, a lost worker, or a refusal.

A worker that died while it ran a call leaves its outcome unknown: Ray itself warns that its
crash error may come after the body ran. For a tool that only reads, or is idempotent, that does
not matter: the call fails with `WorkerDied`, a `ConnectionError`, so the tool's retries apply.
Any other call gets `OutcomeUnknown`, which is never retried. What Ray could not send (an
argument, the function, a result) is a `ToolError` naming it, for the model to read.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ray import cloudpickle
from ray.exceptions import (
    ActorPlacementGroupRemoved,
    ActorUnschedulableError,
    LocalRayletDiedError,
    NodeDiedError,
    ObjectLostError,
    OutOfMemoryError,
    RayActorError,
    RayError,
    RaySystemError,
    RayTaskError,
    RuntimeEnvSetupError,
    TaskPlacementGroupRemoved,
    TaskUnschedulableError,
    WorkerCrashedError,
)

from .._errors import OutcomeUnknown, VolleyError
from .._parts import ToolError
from .._tool import Tool
from ._remote import Raised

__all__ = ["WorkerDied", "from_ray", "unsendable"]


class WorkerDied(VolleyError, ConnectionError):
    """The Ray worker running a read-only or idempotent call died; running it again is safe.

    A `ConnectionError`, so the tool's `retries` apply (when it has some).
    """


DIED = "its Ray worker died while it ran"

_LOST = (
    WorkerCrashedError,
    RayActorError,
    NodeDiedError,
    LocalRayletDiedError,
    OutOfMemoryError,
    ObjectLostError,
)
"""The worker, its node or the result went away: the body may or may not have run."""

_IMPORT_FAILED = "failed to import on the worker"
"""What Ray's stand-in for a remote function that its worker could not unpickle raises."""

_NEVER_RAN = (
    RuntimeEnvSetupError,
    TaskUnschedulableError,
    ActorUnschedulableError,
    TaskPlacementGroupRemoved,
    ActorPlacementGroupRemoved,
)
"""Ray refused the call before any worker took it up."""


def died(tool: Tool[..., Any], detail: str = DIED) -> BaseException:
    """The exception for a call whose worker was lost mid-run."""
    if tool.is_read_only or tool.idempotent:
        return WorkerDied(detail)
    return OutcomeUnknown(detail)


def from_ray(tool: Tool[..., Any], exc: RayError) -> BaseException:
    """What the executor should see for the Ray error `exc` that ended a call of `tool`."""
    name = tool.name
    if isinstance(exc, RayTaskError):
        cause = exc.cause
        if isinstance(cause, Raised):  # the tool's own
            return cause.error
        if isinstance(cause, RaySystemError):  # its arguments or function, unpickled there
            return _not_loaded(name, str(cause))
        if isinstance(cause, RuntimeError) and _IMPORT_FAILED in str(cause):
            return _not_loaded(name, str(cause))  # Ray's stand-in for a function it could not load
        return ToolError(
            f"{name} ran, but its result could not be sent back from its Ray worker "
            f"({type(cause).__name__}: {_last_line(str(cause))}); its effects, if any, have "
            "happened."
        )
    if isinstance(exc, RaySystemError) and isinstance(exc.client_exc, BaseException):
        failure = exc.client_exc  # this process could not unpickle the result
        return ToolError(
            f"{name} ran, but its result could not be loaded in this process "
            f"({type(failure).__name__}: {_last_line(str(failure))}); its effects, if any, have "
            "happened."
        )
    if isinstance(exc, RayActorError) and exc.actor_init_failed:
        return _not_loaded(name, str(exc))
    if isinstance(exc, _NEVER_RAN):
        reason = _last_line(str(exc))
        return ToolError(f"{name} could not be started on Ray: {reason}. It never ran.")
    if isinstance(exc, _LOST):
        return died(tool)
    return died(tool, f"Ray failed while it ran ({type(exc).__name__}: {_last_line(str(exc))})")


def unsendable(
    tool: Tool[..., Any], kwargs: dict[str, Any], fn: Callable[..., Any], exc: Exception
) -> BaseException:
    """The error for a call Ray refused to send: names the argument (or the function) at fault.

    An error that no argument and not the function explains is returned as it is.
    """
    for key, value in kwargs.items():
        if (problem := _unpicklable(value)) is not None:
            return ToolError(
                f"{tool.name} could not be sent to a Ray worker: its argument {key!r} cannot be "
                f"pickled ({problem}). It never ran."
            )
    if (problem := _unpicklable(fn)) is not None:
        return ToolError(
            f"{tool.name} could not be sent to a Ray worker: its function cannot be pickled "
            f"({problem}). It never ran."
        )
    return exc


def _unpicklable(value: Any) -> str | None:
    try:
        cloudpickle.dumps(value)  # type: ignore[no-untyped-call]
    except Exception as exc:  # any failure to pickle is the answer
        return f"{type(exc).__name__}: {_last_line(str(exc))}"
    return None


def _not_loaded(name: str, detail: str) -> ToolError:
    return ToolError(
        f"{name} could not be loaded in its Ray worker ({_last_line(detail)}): the workers must "
        "be able to import the tool's module and volley. It never ran."
    )


def _last_line(text: str) -> str:
    """The last non-empty line of a message (where Ray's long errors say what happened)."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else text
