"""What every wire format module provides, and the neutral values that pass between them.

A wire format turns a request body into a `SimRequest` (or a `WireError`, which the server sends
as a 400 in that provider's error shape), and a neutral `Reply` into that provider's JSON response
or SSE events. The server owns the script, the latency and the log, so adding a provider's format
is one module implementing `WireFormat`, listed in the server's formats. A reply the request's
output cap cut short (``Reply.truncated``) is rendered the way that provider reports it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from ._json import dumps
from ._script import Exchange, Reply
from ._tokens import count_tokens


class WireError(Exception):
    """A request the real API would refuse with a 400; ``param`` names the field, if any."""

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        """What the provider would say."""
        self.param = param
        """The offending field, where the provider names one."""
        self.code = code
        """The provider's error code, where it gives one."""


@dataclass(frozen=True)
class SimRequest:
    """A valid request, reduced to what the script and the renderers need."""

    model: str
    """The model the request named."""
    stream: bool
    """Whether it asked for a streamed response."""
    history: tuple[Exchange, ...]
    """The assistant messages in order, each with the tool results that answered it."""
    max_calls: int | None
    """1 when the request turned parallel tool calls off, else no limit."""
    input_tokens: int
    """Tokens of what the request sends the model."""
    body: Mapping[str, Any] = field(default_factory=dict)
    """The request as sent, for options only one format knows (``stream_options``)."""
    max_output_tokens: int | None = None
    """The request's cap on output tokens (each format names it its own way); None for none."""


@dataclass(frozen=True)
class SseEvent:
    """One server-sent event, with the output tokens it carries so that the server can pace it."""

    data: str
    """The event's data (JSON text, or a sentinel such as ``[DONE]``)."""
    event: str | None = None
    """The event's name, for formats that name their events (Anthropic, Responses)."""
    tokens: int = 0
    """Output tokens it carries: the server waits their time before sending it."""

    def encode(self) -> bytes:
        r"""The event as it goes on the wire, blank line included.

        Data with line breaks (a verbatim arguments text spliced raw) takes one ``data:`` line
        per line, which a client joins back with ``\n``: SSE cannot carry a ``\r`` as such.
        """
        head = f"event: {self.event}\n" if self.event else ""
        lines = "".join(f"data: {line}\n" for line in _LINE_BREAK.split(self.data))
        return f"{head}{lines}\n".encode()


_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def sse(payload: Mapping[str, Any], event: str | None = None, tokens: int = 0) -> SseEvent:
    """An event whose data is ``payload`` as compact JSON (`RawJSON` values spliced raw)."""
    return SseEvent(dumps(payload), event, tokens)


def output_tokens(reply: Reply) -> int:
    """Output tokens of a reply: its text, each call's name and arguments text, any cut call's."""
    cut = reply.cut_call
    return (
        count_tokens(reply.text)
        + sum(call.tokens for call in reply.calls)
        + (count_tokens(cut.name) + count_tokens(cut.arguments_json) if cut else 0)
    )


@dataclass(frozen=True)
class Rendering:
    """What a renderer needs beyond the reply: ids and figures fixed by the server."""

    message_id: str
    created: int
    input_tokens: int
    output_tokens: int


class WireFormat(Protocol):
    """One provider wire format: where it is served, how it validates, how it answers."""

    name: str
    """Short name used in the request log, e.g. ``"anthropic"``."""
    path: str
    """The POST route, e.g. ``"/v1/messages"``."""
    call_id_prefix: str
    """What the provider's tool call ids start with (``toolu_``, ``call_``)."""
    message_id_prefix: str
    """What its message ids start with (``msg_``, ``chatcmpl-``, ``resp_``)."""
    partial_calls: bool
    """Whether a call the output cap stops mid-way goes out in part (its arguments cut short) or
    not at all (see `truncate`)."""

    def parse(self, body: object, route: Mapping[str, str] | None = None) -> SimRequest:
        """Validate a request body as the real API would.

        ``route`` holds the path's parameters, for formats that put request fields in the URL
        (Gemini's model and method); the others ignore it.

        Raises:
            WireError: the request is invalid.
        """
        ...

    def error_body(self, error: WireError) -> dict[str, Any]:
        """The provider's JSON body for a 400."""
        ...

    def response(self, request: SimRequest, reply: Reply, info: Rendering) -> dict[str, Any]:
        """The non-streaming JSON response."""
        ...

    def events(self, request: SimRequest, reply: Reply, info: Rendering) -> Iterator[SseEvent]:
        """The streaming response, event by event, exactly as the real API orders them."""
        ...
