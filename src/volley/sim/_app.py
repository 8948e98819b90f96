"""The simulator as an ASGI app: routes each wire format, answers from the script, paces, logs.

The app is usable on its own (``httpx2.ASGITransport(app=sim.app)``) for in-process tests; the
server module only adds a loopback socket around it. Each reply is cut to the request's output
cap (see `truncate`), and the next streamed responses can be broken on purpose (`cut_streams`).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from .._parts import Part
from ._faults import DroppedConnection, StreamCut
from ._json import dumps
from ._scenario import Scenario
from ._script import Exchange, ReceivedResult, plan_reply
from ._truncate import truncate
from ._wire import Rendering, SimRequest, SseEvent, WireError, WireFormat, output_tokens

try:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response, StreamingResponse
    from starlette.routing import Route
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError("volley.sim needs Starlette: pip install 'volley-tools[sim]'") from exc

Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True)
class RequestRecord:
    """One request the simulator received: a round trip, with its token figures."""

    format: str
    """The wire format's name (``"anthropic"``, ``"openai_chat"``, ``"openai_responses"``, ...)."""
    stream: bool
    """Whether the request asked for a streamed response."""
    status: int
    """The HTTP status answered: 200, or 400 for a request the real API would refuse."""
    input_tokens: int = 0
    """Tokens of what the request sent the model (see `SimServer` for how they are counted)."""
    output_tokens: int = 0
    """Tokens of the reply."""
    tool_calls: int = 0
    """Complete tool calls in the response (not counting one the output cap cut short)."""
    turn: int | None = None
    """The scripted turn answered (-1: the final answer; None: the request was refused)."""
    error: str | None = None
    """Why the request was refused (a 400), in the provider's words."""
    truncated: bool = False
    """The request's output cap cut the reply short (``max_tokens``, ``length``, ...)."""
    cut: StreamCut | None = None
    """The fault injected into this streamed response (see `Simulator.cut_streams`), if any."""
    results: tuple[ReceivedResult, ...] = ()
    """The tool results the request carried after its last assistant message, as the model
    received them: text, and each image or audio clip decoded (`ReceivedResult.parts`)."""
    attached: tuple[Part, ...] = ()
    """Text and media sent along with those results (see `Exchange.attached`)."""


class Simulator:
    """Answers requests in every registered wire format from one scenario."""

    def __init__(
        self,
        scenario: Scenario,
        formats: Sequence[WireFormat],
        *,
        time_scale: float = 1.0,
        sleep: Sleep = asyncio.sleep,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.scenario = scenario
        self.formats = tuple(formats)
        self.time_scale = time_scale
        self.log: list[RequestRecord] = []
        self._cuts: deque[StreamCut] = deque()
        self._sleep = sleep
        self._clock = clock
        self._ids = itertools.count(1)
        routes = [Route(f.path, self._endpoint(f), methods=["POST"]) for f in self.formats]
        self.app = Starlette(routes=routes)

    def cut_streams(self, after_events: int, *, count: int = 1, abrupt: bool = False) -> None:
        """Break the next ``count`` streamed responses after ``after_events`` SSE events each.

        Faults queue up in call order, one per streamed response (of any format); plain
        responses never take one, so a client that retries without streaming is not broken.
        ``abrupt=False`` ends each response cleanly without its remaining events;
        ``abrupt=True`` drops the connection mid-body, so the client's HTTP library raises (see
        `StreamCut`). The request log records the fault each response took
        (``RequestRecord.cut``).

        Raises:
            ValueError: ``after_events`` or ``count`` is negative.
        """
        if after_events < 0 or count < 0:
            raise ValueError("after_events and count must be >= 0")
        self._cuts.extend([StreamCut(after_events, abrupt)] * count)

    def _endpoint(self, wire: WireFormat) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            return await self.handle(wire, await request.body(), request.path_params)

        return endpoint

    async def handle(
        self, wire: WireFormat, raw: bytes, route: Mapping[str, str] | None = None
    ) -> Response:
        """Answer one request body in ``wire``'s format (a 400 in its error shape if invalid)."""
        try:
            try:
                body = json.loads(raw)
            except (ValueError, RecursionError) as exc:  # nested too deep is not JSON here either
                raise WireError(f"The request body is not valid JSON: {exc}") from exc
            request = wire.parse(body, route)
        except WireError as error:
            self.log.append(RequestRecord(wire.name, False, 400, error=error.message))
            return JSONResponse(wire.error_body(error), status_code=400)
        reply = plan_reply(
            self.scenario,
            request.history,
            max_calls=request.max_calls,
            id_prefix=wire.call_id_prefix,
        )
        reply = truncate(reply, request.max_output_tokens, partial_calls=wire.partial_calls)
        last = request.history[-1] if request.history else Exchange(0)
        cut = self._cuts.popleft() if request.stream and self._cuts else None
        info = Rendering(
            message_id=f"{wire.message_id_prefix}sim{next(self._ids):021d}",
            created=int(time.time()),
            input_tokens=request.input_tokens,
            output_tokens=output_tokens(reply),
        )
        self.log.append(
            RequestRecord(
                wire.name,
                request.stream,
                200,
                info.input_tokens,
                info.output_tokens,
                len(reply.calls),
                reply.turn,
                truncated=reply.truncated,
                cut=cut,
                results=last.results,
                attached=last.attached,
            )
        )
        if request.stream:
            events = wire.events(request, reply, info)
            return StreamingResponse(
                self._paced(request, events, cut),
                media_type="text/event-stream",
                headers={"cache-control": "no-cache"},
            )
        latency = self.scenario.latency
        await self._wait(
            latency.first_token(info.input_tokens) + latency.output(info.output_tokens)
        )
        body = dumps(wire.response(request, reply, info))  # verbatim arguments spliced raw
        return Response(body.encode(), media_type="application/json")

    async def _paced(
        self, request: SimRequest, events: Iterator[SseEvent], cut: StreamCut | None
    ) -> AsyncIterator[bytes]:
        """Send each event when the latency model says it is written.

        Events keep to a schedule fixed from the first byte, rather than sleeping a delay after
        each one: a timer wakes up late by up to a millisecond, and over the hundred events of a
        long message those late wake-ups would add up to a model slower than the one described.
        """
        latency = self.scenario.latency
        clock = self._clock or asyncio.get_running_loop().time
        due = clock()
        for sent, event in enumerate(events):
            if cut is not None and sent == cut.after_events:
                break
            seconds = latency.output(event.tokens)
            if sent == 0:
                seconds += latency.first_token(request.input_tokens)
            due += seconds * self.time_scale
            await self._wait_until(due, clock)
            yield event.encode()
        if cut is not None and cut.abrupt:
            raise DroppedConnection(f"stream cut after {cut.after_events} events")

    async def _wait_until(self, due: float, clock: Callable[[], float]) -> None:
        delay = due - clock()
        if delay > 0:
            await self._sleep(delay)

    async def _wait(self, seconds: float) -> None:
        delay = seconds * self.time_scale
        if delay > 0:
            await self._sleep(delay)
