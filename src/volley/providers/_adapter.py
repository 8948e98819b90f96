"""What every SDK adapter does the same way: one round trip, plain or streamed, and its errors.

An adapter differs from another in how it spells a request (`_params`), which SDK call sends it
(`_send`, `_send_streamed`), how a response reads back (`_turn`) and which assembler reads its
stream (`_assembler`); the order of those steps, what a failure means and how a stream is
relayed are the same for all four, and live here once.

Every failure of a request becomes a `ProviderError` saying which kind it is: the SDKs raise a
family of their own (rate limits, 5xx, dropped connections, timeouts, once their retries are
spent), and a caller should not have to know four of them to keep a run's transcript.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

from .._errors import FailureKind, ProviderError, StreamError
from .._messages import ModelTurn
from ._base import ModelRequest
from ._names import ToolNames
from .streams import Assembler, NeutralEvent
from .streams._stream import relay

__all__ = ["SDKAdapter", "failure"]


def failure(provider: str, exc: BaseException, request: Mapping[str, Any]) -> ProviderError:
    """What an SDK's exception means, as a `ProviderError` of the right kind.

    The SDKs agree on shape, if not on names: an HTTP failure has a status (`status_code`,
    genai's `code`), and the rest are timeouts, broken connections, or a request that could not
    be encoded.
    """
    if isinstance(exc, ProviderError):
        return exc
    status = _status(exc)
    kind: FailureKind
    if status is not None:
        if status == 429:
            kind = "rate_limited"
        elif status == 408:
            kind = "timeout"
        else:
            kind = "server" if status >= 500 else "rejected"
    elif isinstance(exc, UnicodeError) or "JSON compliant" in str(exc):
        kind = "encoding"
    elif "Timeout" in type(exc).__name__ or isinstance(exc, TimeoutError):
        kind = "timeout"
    elif any(word in type(exc).__name__ for word in ("Connect", "Network", "Protocol")):
        kind = "connection"
    else:
        kind = "other"
    message = getattr(exc, "message", None)
    text = str(message) if isinstance(message, str) and message else str(exc)
    if kind == "other" or not text:
        text = f"{type(exc).__name__}: {text}"
    return ProviderError(provider, text, kind=kind, status=status, request=request)


def _status(exc: BaseException) -> int | None:
    for attribute in ("status_code", "code"):
        value = getattr(exc, attribute, None)
        if isinstance(value, int) and not isinstance(value, bool) and 100 <= value < 600:
            return value
    return None


class SDKAdapter:
    """A model behind an official SDK's async client.

    Subclasses set `provider` (the prefix of `name`) and `_refusals` (the SDK's exceptions for a
    failed request that a stream may raise when it is first read, as genai's do) and implement
    the hooks below.
    """

    provider = ""
    _refusals: tuple[type[Exception], ...] = ()
    _lazy_stream = False
    """Whether the SDK sends a streamed request only when its first chunk is read (genai)."""

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
        """One round trip: the whole message at once.

        Raises:
            ProviderError: the request failed (after the SDK's own retries), or its answer could
                not be read.
        """
        names = ToolNames(t.name for t in request.tools)
        params = self._params(request, names)
        try:
            response = await self._send(params)
        except Exception as exc:
            raise self._failure(exc, params) from exc
        try:
            return self._turn(response, names)
        except Exception as exc:  # a response the SDK accepted but volley cannot read
            raise ProviderError(
                self.name,
                f"its response could not be read ({type(exc).__name__}: {exc})",
                kind="other",
                request=params,
            ) from exc

    async def stream(self, request: ModelRequest) -> AsyncIterator[NeutralEvent | ModelTurn]:
        """One streamed round trip: each call as soon as it is complete, then the whole turn.

        Raises:
            ProviderError: the request failed before its stream began.
            StreamError: the stream broke after it began.
        """
        names = ToolNames(t.name for t in request.tools)
        params = self._params(request, names)
        try:  # some SDKs (genai) send the request only when the first event is asked for
            events = await self._send_streamed(params)
            assembler = self._assembler(names)
            assembler.watch = frozenset(request.streamed_arguments)
            relayed = relay(events, assembler, passthrough=self._refusals, lazy=self._lazy_stream)
            async for item in relayed:
                yield item
        except StreamError:
            raise
        except Exception as exc:
            raise self._failure(exc, params) from exc

    def _failure(self, exc: BaseException, params: dict[str, Any]) -> ProviderError:
        """What went wrong, as a `ProviderError` (an adapter may add a hint)."""
        return failure(self.name, exc, params)

    # -- the hooks each adapter implements ----------------------------------------------------

    def _params(self, request: ModelRequest, names: ToolNames) -> dict[str, Any]:
        raise NotImplementedError

    async def _send(self, params: dict[str, Any]) -> Any:
        raise NotImplementedError

    async def _send_streamed(self, params: dict[str, Any]) -> Any:
        raise NotImplementedError

    def _turn(self, response: Any, names: ToolNames) -> ModelTurn:
        raise NotImplementedError

    def _assembler(self, names: ToolNames) -> Assembler:
        raise NotImplementedError

    async def _close_client(self) -> None:
        await self.client.close()
