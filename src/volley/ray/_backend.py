"""`RayBackend`: call bodies on a Ray cluster; the executor still decides when each starts."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Collection, Mapping
from types import TracebackType
from typing import Any

import ray
from ray.exceptions import RayActorError, RayError

from .._backend import InProcessBackend
from .._errors import ConfigurationError
from .._tool import Tool
from ._connect import connect
from ._faults import from_ray, unsendable
from ._options import actor_options, check_options, task_options
from ._remote import RemoteToolHost, sync_body

__all__ = ["RayBackend"]

_Key = tuple[str, Callable[..., Any]]

STOP_GRACE = 2.0
"""Seconds a cancelled call is given to end (its worker killed, its coroutine cancelled)."""


class RayBackend:
    """Runs tool bodies on Ray: sync tools as Ray tasks, async tools in an actor per tool.

    A sync call is one Ray task (one CPU by default), so the cluster's scheduler places each
    call where its resources are free, and a call cancelled or timed out is stopped: its
    worker process is killed (`ray.cancel(force=True)`). An async tool gets one async actor
    (made at its first call, holding no CPU by default) that runs all its calls at once on its
    event loop; a cancelled call is cancelled in the actor (`CancelledError` in the tool). The
    cancelled call's awaitable ends once the body has (at most `STOP_GRACE` seconds later), so a
    conflicting call the executor starts next never overlaps it.

    Ray never retries: volley does, for read-only and idempotent tools. A call whose worker
    dies fails with `volley.ray.WorkerDied` (a `ConnectionError`, so the tool's retries apply)
    when its tool only reads or is idempotent, and with an `outcome_unknown` result otherwise.

    Args:
        address: the Ray cluster to connect to (`"auto"`: the one running on this machine,
            `"host:port"`: its GCS); `None` starts a local Ray, or attaches to `RAY_ADDRESS`.
            A process already connected to Ray keeps that connection (then `address`, if given
            as `host:port`, must name the same cluster).
        options: Ray options per tool name: where its calls run (`num_cpus`, `num_gpus`,
            `memory`, `resources`, `accelerator_type`, `runtime_env`, `scheduling_strategy`,
            `label_selector`). For an async tool they are its actor's.
        local: names of tools that stay in this process (cheap ones: a Ray round trip costs
            about a millisecond), run as `InProcessBackend` runs them.
        max_threads: threads for the local sync tools.
        init: more keyword arguments for `ray.init`, when this backend connects.

    The connection is made here (`ray.init` takes seconds when it starts a local Ray).
    """

    def __init__(
        self,
        address: str | None = None,
        *,
        options: Mapping[str, Mapping[str, Any]] | None = None,
        local: Collection[str] = (),
        max_threads: int = 32,
        init: Mapping[str, Any] | None = None,
    ) -> None:
        if isinstance(local, str):
            raise ConfigurationError("local must be a collection of tool names, not one string")
        self.local = frozenset(local)
        self.options = check_options(options, self.local)
        self._in_process = InProcessBackend(max_threads=max_threads)
        self._owns_connection = connect(address, init)
        self._tasks: dict[_Key, Any] = {}
        self._actors: dict[_Key, Any] = {}
        self._closed = False

    def start(self, tool: Tool[..., Any], kwargs: dict[str, Any]) -> Awaitable[Any]:
        """Send the call to Ray (or run it here, for a local tool); await it for its value."""
        if tool.name in self.local:
            return self._in_process.start(tool, kwargs)
        if self._closed:
            return _raise(RuntimeError("this RayBackend is closed"))
        host = None
        try:
            if tool.is_async:
                host = self._host(tool)
                ref = host.call.remote(kwargs)
            else:
                ref = self._task(tool).remote(kwargs)
        except Exception as exc:  # what could not be sent becomes the result
            return _raise(unsendable(tool, kwargs, tool.fn, exc))
        return self._wait(tool, ref, host)

    async def _wait(self, tool: Tool[..., Any], ref: Any, host: Any) -> Any:
        try:
            return await ref
        except asyncio.CancelledError:
            await _stop(ref, force=host is None)
            raise
        except RayError as exc:
            if host is not None and isinstance(exc, RayActorError):
                self._forget(tool, host)  # the next call gets a new actor
            raise from_ray(tool, exc) from exc

    def _task(self, tool: Tool[..., Any]) -> Any:
        key = (tool.name, tool.fn)
        remote = self._tasks.get(key)
        if remote is None:
            given = self.options.get(tool.name, {})
            body = sync_body(tool.fn, tool.name)
            remote = self._tasks[key] = ray.remote(**task_options(tool.name, given))(body)
        return remote

    def _host(self, tool: Tool[..., Any]) -> Any:
        key = (tool.name, tool.fn)
        host = self._actors.get(key)
        if host is None:
            given = self.options.get(tool.name, {})
            host = RemoteToolHost.options(**actor_options(given)).remote(tool.fn)
            self._actors[key] = host
        return host

    def _forget(self, tool: Tool[..., Any], host: Any) -> None:
        key = (tool.name, tool.fn)
        if self._actors.get(key) is host:
            del self._actors[key]

    def close(self) -> None:
        """Kill the actors made here, without waiting for their calls; disconnect if it connected.

        A Ray this backend did not connect to stays connected; one it started (`address=None`
        with no cluster) is stopped with the disconnection.
        """
        if self._closed:
            return
        self._closed = True
        actors = list(self._actors.values())
        self._actors.clear()
        self._tasks.clear()
        for host in actors:
            with contextlib.suppress(Exception):  # an actor already gone is released
                ray.kill(host, no_restart=True)
        self._in_process.close()
        if self._owns_connection and ray.is_initialized():
            ray.shutdown()

    def __enter__(self) -> RayBackend:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


async def _stop(ref: Any, *, force: bool) -> None:
    """Cancel a Ray call and wait (up to `STOP_GRACE`) until it has ended, without blocking.

    A task's worker is killed (`force`); an actor's call is cancelled in its coroutine. Waiting
    for the end means a conflicting call that starts next does not overlap a body still running.
    `ray.cancel` is an RPC: it runs in a thread, never on the loop.
    """
    loop = asyncio.get_running_loop()
    try:
        loop.run_in_executor(None, _cancel_now, ref, force)
    except RuntimeError:  # the loop's executor is shut down: cancel from here
        _cancel_now(ref, force)
    ended = asyncio.wrap_future(ref.future())
    try:
        await asyncio.wait([ended], timeout=STOP_GRACE)
    finally:
        if not ended.done():
            ended.cancel()
        elif not ended.cancelled():
            ended.exception()  # retrieved: how it ended is known already


def _cancel_now(ref: Any, force: bool) -> None:
    with contextlib.suppress(Exception):  # a call that already ended needs no cancelling
        ray.cancel(ref, force=force)


async def _raise(exc: BaseException) -> Any:
    raise exc
