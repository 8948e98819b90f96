"""The simulator as an ASGI app: routes each wire format, answers from the script, paces, logs.

The app is usable on its own (``httpx2.ASGITransport(app=sim.app)``) for in-process tests; the
server module only adds a loopback socket around it.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from ._scenario import Scenario
from ._script import plan_reply
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
    status: int
    input_tokens: int = 0
    output_tokens: int = 0
    tool_calls: int = 0
    """Tool calls in the response."""
    turn: int | None = None
    """The scripted turn answered (-1: the final answer; None: the request was refused)."""
    error: str | None = None


class Simulator:
    """Answers requests in every registered wire format from one scenario."""

    def __init__(
        self,
        scenario: Scenario,
        formats: Sequence[WireFormat],
        *,
        time_scale: float = 1.0,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.scenario = scenario
        self.formats = tuple(formats)
        self.time_scale = time_scale
        self.log: list[RequestRecord] = []
        self._sleep = sleep
        self._ids = itertools.count(1)
        routes = [Route(f.path, self._endpoint(f), methods=["POST"]) for f in self.formats]
        self.app = Starlette(routes=routes)

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
            except ValueError as exc:
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
            )
        )
        if request.stream:
            events = wire.events(request, reply, info)
            return StreamingResponse(
                self._paced(request, events),
                media_type="text/event-stream",
                headers={"cache-control": "no-cache"},
            )
        latency = self.scenario.latency
        await self._wait(
            latency.first_token(info.input_tokens) + latency.output(info.output_tokens)
        )
        return JSONResponse(wire.response(request, reply, info))

    async def _paced(self, request: SimRequest, events: Iterator[SseEvent]) -> AsyncIterator[bytes]:
        latency = self.scenario.latency
        await self._wait(latency.first_token(request.input_tokens))
        for event in events:
            await self._wait(latency.output(event.tokens))
            yield event.encode()

    async def _wait(self, seconds: float) -> None:
        delay = seconds * self.time_scale
        if delay > 0:
            await self._sleep(delay)
