"""Progress a call reports while it runs, heard by whoever started its batch.

A long tool (a build, a crawl, an MCP tool that sends progress notifications) can say how far it
is; a UI shows it beside the call. The call's batch sets the listener in the call's own task, so a
tool reports without being handed anything: `volley.report_progress(3, 10, "parsing")`.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeAlias

from ._call import ToolCall

__all__ = ["Progress", "ProgressListener", "listen", "report_progress", "reporter"]

logger = logging.getLogger("volley")


@dataclass(frozen=True, slots=True)
class Progress:
    """How far one call is."""

    call_id: str
    """The call's id."""
    name: str
    """The tool's name."""
    progress: float
    """How much is done, in the tool's own unit."""
    total: float | None = None
    """How much there is to do, if the tool knows."""
    message: str | None = None
    """What the tool said it is doing, if anything."""


ProgressListener: TypeAlias = Callable[[Progress], None]

_current: contextvars.ContextVar[tuple[ToolCall, ProgressListener, asyncio.AbstractEventLoop]] = (
    contextvars.ContextVar("volley_progress")
)


def listen(call: ToolCall, listener: ProgressListener) -> None:
    """Send the progress reported in this task (and threads it starts) to `listener`."""
    _current.set((call, listener, asyncio.get_running_loop()))


def reporter() -> Callable[[float, float | None, str | None], None] | None:
    """The current call's way to report, or `None` when nobody listens.

    For code that runs outside the call's task, such as a library's callback.
    """
    current = _current.get(None)
    if current is None:
        return None
    call, listener, loop = current

    def report(progress: float, total: float | None = None, message: str | None = None) -> None:
        event = Progress(call.id, call.name, progress, total, message)
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            _deliver(listener, event)
        else:  # from a sync tool's thread: the listener lives on the loop
            loop.call_soon_threadsafe(_deliver, listener, event)

    return report


def report_progress(
    progress: float, total: float | None = None, message: str | None = None
) -> None:
    """Say how far the running call is; a no-op outside a call or when nobody listens.

    Callable from an async tool or from a sync tool's thread.
    """
    report = reporter()
    if report is not None:
        report(progress, total, message)


def _deliver(listener: ProgressListener, event: Progress) -> None:
    try:
        listener(event)
    except Exception:  # a listener's bug must not fail the call that reported
        logger.exception("a progress listener raised for call %r", event.call_id)
