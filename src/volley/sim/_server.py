"""`SimServer`: the simulator on a real loopback socket, so that unmodified SDKs can reach it."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable, Iterator, Sequence
from types import TracebackType
from typing import Any

from ._app import Simulator, Sleep
from ._faults import quiet_dropped_connections
from ._scenario import Scenario
from ._wire import WireFormat
from .anthropic import AnthropicMessages
from .gemini import Gemini
from .openai_chat import OpenAIChat
from .openai_responses import OpenAIResponses

try:
    import uvicorn
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError("volley.sim needs uvicorn: pip install 'volley-tools[sim]'") from exc


class _QuietServer(uvicorn.Server):
    """A uvicorn server that leaves the host's signal handlers alone and stops without polling.

    uvicorn's own main loop checks for exit every 0.1 s; tests start hundreds of servers, so this
    one waits on an event instead (still ticking once a second to refresh the Date header).
    """

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.stopping = asyncio.Event()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    async def main_loop(self) -> None:
        ticks = 0
        while not await self.on_tick(ticks):
            ticks = (ticks + 10) % 864000  # on_tick counts tenths of a second
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(1.0):
                    await self.stopping.wait()

    def stop(self) -> None:
        """Ask the server to shut down now."""
        self.should_exit = True
        self.stopping.set()


class Loopback:
    """An ASGI app served by uvicorn at a free port of ``127.0.0.1``, in the running loop."""

    def __init__(self, app: Any, *, name: str) -> None:
        self.app = app
        self.name = name
        self.port: int | None = None
        """The port while serving."""
        self._server: _QuietServer | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> int:
        """Serve until `stop`; returns the port once the server accepts connections."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # Accepted sockets inherit it: without it, Nagle's algorithm and the client's delayed
        # ACK hold every small write (headers, each SSE event) for ~40 ms on loopback.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        config = uvicorn.Config(
            self.app,
            log_level="warning",
            lifespan="off",
            ws="none",
            access_log=False,
            timeout_graceful_shutdown=1,
            # Longer than an httpx client keeps an idle connection (5 s), as real APIs do: with
            # both at 5 s, a client can reuse a connection at the instant the server closes
            # it, and an SDK without retries reports "Connection error".
            timeout_keep_alive=75,
        )
        self._server = _QuietServer(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]))
        while not self._server.started:
            if self._task.done():
                sock.close()
                self._task.result()  # re-raise why it could not start
                raise RuntimeError(f"{self.name} stopped while starting")
            await asyncio.sleep(0.001)
        self.port = port
        return port

    async def stop(self) -> None:
        """Stop serving and wait until the server is down (a no-op if it is not running)."""
        if self._server is not None and self._task is not None:
            self._server.stop()
            await self._task
        self._server = self._task = None
        self.port = None


class SimServer(Simulator):
    """A simulated LLM provider on ``127.0.0.1`` at a free port.

    Use as ``async with SimServer(scenario) as sim:`` and point an SDK at ``sim.base_url``
    (Anthropic, Gemini) or ``sim.base_url + "/v1"`` (OpenAI). ``sim.app`` is the same server as
    an ASGI app, usable without a socket. ``sim.log`` records every request.

    Like a real model, the server honours each request's output cap (``max_tokens``,
    ``max_completion_tokens``, ``max_output_tokens``, ``maxOutputTokens``): a longer reply is cut
    at the cap, a tool call mid-JSON included, and reported as each API reports it. To test
    clients against broken streams, ``sim.cut_streams(after_events, count=1, abrupt=False)``
    stops the next streamed responses early: cleanly (the stream just ends) or by dropping the
    connection (the client's HTTP library raises). The scenario cannot do that, since a retried
    request must be able to succeed.

    Args:
        scenario: What the model says (see `Scenario`).
        time_scale: Multiplies every scripted delay; 0 answers at once (tests).
        ollama: Stream OpenAI Chat tool calls Ollama-style (every call at index 0).
        formats: The wire formats to serve; default Anthropic Messages, OpenAI Chat, OpenAI
            Responses (phases, no reasoning items) and Gemini (without call ids, with signatures).
        sleep: Awaited for each delay; injectable for virtual-time tests.
        clock: What streams keep their schedule by (the loop's clock if `None`); injected
            with `sleep`.
    """

    def __init__(
        self,
        scenario: Scenario,
        *,
        time_scale: float = 1.0,
        ollama: bool = False,
        formats: Sequence[WireFormat] | None = None,
        sleep: Sleep = asyncio.sleep,
        clock: Callable[[], float] | None = None,
    ) -> None:
        if formats is None:
            formats = (AnthropicMessages(), OpenAIChat(ollama=ollama), OpenAIResponses(), Gemini())
        super().__init__(scenario, formats, time_scale=time_scale, sleep=sleep, clock=clock)
        self._loopback = Loopback(self.app, name="SimServer")

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT`` while the server runs.

        Raises:
            RuntimeError: the server is not running.
        """
        if self._loopback.port is None:
            raise RuntimeError("SimServer is not running: use `async with SimServer(...)`")
        return f"http://127.0.0.1:{self._loopback.port}"

    async def __aenter__(self) -> SimServer:
        quiet_dropped_connections()
        await self._loopback.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._loopback.stop()
