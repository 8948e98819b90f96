"""What runs in the Ray workers: a sync tool's task body, and the actor that hosts an async tool.

Both wrap what the tool raises in `Raised`, so that the driver can tell the tool's own
exception from one Ray raised around it (a result it could not send back, a function it could
not load): Ray reports both as a `RayTaskError` whose `cause` is the exception.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import ray
from ray import cloudpickle

__all__ = ["Raised", "ToolHost", "sync_body"]


class Raised(Exception):
    """The tool's own exception, carried back to the driver as it was raised."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(error)
        self.error = error

    @classmethod
    def of(cls, error: BaseException) -> Raised:
        """Wrap `error`; one that does not survive pickling goes as its type's name and message."""
        try:
            cloudpickle.loads(cloudpickle.dumps(error))  # type: ignore[no-untyped-call]
        except Exception:  # whatever pickling raises, the message still goes
            error = RuntimeError(
                f"{type(error).__name__}: {error} (the exception itself could not be sent "
                "from the Ray worker)"
            )
        return cls(error)

    def __reduce__(self) -> tuple[Any, ...]:
        return (Raised, (self.error,))


def sync_body(fn: Callable[..., Any], name: str) -> Callable[..., Any]:
    """The task body of a sync tool: the function, its exception carried in `Raised`."""

    def body(kwargs: dict[str, Any]) -> Any:
        try:
            return fn(**kwargs)
        except Exception as exc:
            raise Raised.of(exc) from None

    body.__name__ = body.__qualname__ = name  # what Ray's dashboard and logs call the task
    return body


class ToolHost:
    """One async tool's actor: many calls at once on its event loop (an async actor)."""

    def __init__(self, fn: Callable[..., Awaitable[Any]]) -> None:
        self.fn = fn

    async def call(self, kwargs: dict[str, Any]) -> Any:
        """Run the tool once; a cancelled call is cancelled in the tool's coroutine."""
        try:
            return await self.fn(**kwargs)
        except Exception as exc:
            raise Raised.of(exc) from None


RemoteToolHost: Any = ray.remote(ToolHost)
"""`ToolHost` as a Ray actor class (give it options with `.options(...)`)."""
