"""What every SDK adapter does the same way: one round trip, plain or streamed, and its errors.

An adapter differs from another in how it spells a request (`_params`), which SDK call sends it
(`_send`, `_send_streamed`), how a response reads back (`_turn`) and which assembler reads its
stream (`_assembler`); the order of those steps, what counts as a refusal and how a stream is
relayed are the same for all four, and live here once.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from .._messages import ModelTurn
from ._base import ModelRequest, ProviderError, relay, status_error
from ._names import ToolNames

__all__ = ["SDKAdapter"]


class SDKAdapter:
    """A model behind an official SDK's async client.

    Subclasses set `provider` (the prefix of `name`) and `_refusals` (the SDK's exception for a
    request the provider refuses) and implement the hooks below.
    """

    provider = ""
    _refusals: tuple[type[Exception], ...] = ()

    def __init__(self, model: str, client: Any, *, made_here: bool) -> None:
        self.model = model
        self.client = client
        self._made_here = made_here

    @property
    def name(self) -> str:
        """`provider:model`."""
        return f"{self.provider}:{self.model}"

    async def aclose(self) -> None:
        """Close the SDK client if this adapter made it (a client passed in is the caller's)."""
        if self._made_here:
            await self._close_client()

    async def complete(self, request: ModelRequest) -> ModelTurn:
        """One round trip: the whole message at once."""
        names = ToolNames(t.name for t in request.tools)
        params = self._params(request, names)
        try:
            response = await self._send(params)
        except self._refusals as exc:
            raise self._refused(exc, params) from exc
        return self._turn(response, names)

    async def stream(self, request: ModelRequest) -> AsyncIterator[Any]:
        """One streamed round trip: each call as soon as it is complete, then the whole turn."""
        names = ToolNames(t.name for t in request.tools)
        params = self._params(request, names)
        try:  # some SDKs (genai) send the request only when the first event is asked for
            events = await self._send_streamed(params)
            async for item in relay(events, self._assembler(names), passthrough=self._refusals):
                yield item
        except self._refusals as exc:
            raise self._refused(exc, params) from exc

    def _refused(self, exc: Any, params: dict[str, Any]) -> ProviderError:
        """The provider's refusal, with the request that caused it (Anthropic and OpenAI)."""
        return status_error(self.name, exc, params)

    # -- the hooks each adapter implements ----------------------------------------------------

    def _params(self, request: ModelRequest, names: ToolNames) -> dict[str, Any]:
        raise NotImplementedError

    async def _send(self, params: dict[str, Any]) -> Any:
        raise NotImplementedError

    async def _send_streamed(self, params: dict[str, Any]) -> Any:
        raise NotImplementedError

    def _turn(self, response: Any, names: ToolNames) -> ModelTurn:
        raise NotImplementedError

    def _assembler(self, names: ToolNames) -> Any:
        raise NotImplementedError

    async def _close_client(self) -> None:
        await self.client.close()
