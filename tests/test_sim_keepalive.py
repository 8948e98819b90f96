"""The simulator keeps an idle connection open longer than an HTTP client keeps it for reuse.

With both at 5 s (uvicorn's and httpx's defaults) a client can send a request on a connection
at the instant the server closes it: the SDK reports a connection error, or retries it. A real
API outlasts its clients; so must the simulator, or a run without retries fails at random.
"""

from __future__ import annotations

import asyncio

import httpx2

from tests._sim import SCENARIO
from volley.sim import SimServer

CLIENT_EXPIRY = httpx2.Limits().keepalive_expiry or 5.0  # the SDKs' client


def test_an_idle_connection_outlives_the_clients_keep_alive_expiry() -> None:
    async def main() -> bytes:
        async with SimServer(SCENARIO, time_scale=0) as sim:
            port = int(sim.base_url.rsplit(":", 1)[1])
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET /nowhere HTTP/1.1\r\nHost: sim\r\n\r\n")
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(
                int(line.split(b":", 1)[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            )
            await reader.readexactly(length)
            # Past the client's expiry: a server that closed the connection has sent its FIN.
            await asyncio.sleep(CLIENT_EXPIRY + 0.5)
            try:
                return await asyncio.wait_for(reader.read(1), timeout=0.05)  # b"": closed
            except TimeoutError:
                return b"open"
            finally:
                writer.close()

    assert asyncio.run(main()) == b"open"
