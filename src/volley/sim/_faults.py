"""Broken streams on demand: a streamed response that stops early, cleanly or mid-connection.

Streaming clients must cope with a stream that ends without its terminal event (a proxy timing
out, a server restarting) and with a connection that drops mid-body. Faults are set on the server
rather than in the scenario, because a scenario replies from the conversation alone: the retry of
a request is the same conversation, and must be able to succeed where the first try broke.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

__all__ = ["DroppedConnection", "StreamCut", "quiet_dropped_connections"]


@dataclass(frozen=True)
class StreamCut:
    """A fault for one streamed response: stop it after ``after_events`` SSE events.

    ``abrupt=False`` then ends the HTTP response properly (the client reads a stream that just
    stops, with no terminal event); ``abrupt=True`` closes the connection before the response's
    end, so that the client's HTTP library raises. An abrupt cut of a stream that has no more
    than ``after_events`` events still drops the connection before the body's last chunk; a
    clean one leaves such a stream whole.
    """

    after_events: int
    """How many events go out before the stream stops."""
    abrupt: bool = False
    """Drop the connection (the client raises) rather than end the response cleanly."""


class DroppedConnection(Exception):
    """Raised by the simulator's ASGI app to make the server drop a connection mid-response.

    uvicorn closes the connection of an app that fails after its response started, which is
    the only way an ASGI app can cut one. Through ``httpx2.ASGITransport`` (no socket) this
    exception reaches the client as it is.
    """


class _DropFilter(logging.Filter):
    """Keeps uvicorn from logging a traceback for a connection the simulator dropped on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], DroppedConnection))


_FILTER = _DropFilter()


def quiet_dropped_connections() -> None:
    """Install the filter on uvicorn's error logger (idempotent; other records pass)."""
    logger = logging.getLogger("uvicorn.error")
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)
