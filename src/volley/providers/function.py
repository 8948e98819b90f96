"""A provider that is a Python function: for tests, scripted runs and offline experiments."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable

from .._messages import ModelTurn
from ._base import ModelRequest

__all__ = ["FunctionProvider"]

Respond = Callable[[ModelRequest], ModelTurn | Awaitable[ModelTurn]]


class FunctionProvider:
    """Answers each request by calling `respond(request)` (sync or async).

    It sees exactly what a real adapter would be given, so an agent can be tested turn by turn
    without a server, a key or a wire format.
    """

    def __init__(self, respond: Respond, *, name: str = "function") -> None:
        self._respond = respond
        self._name = name
        self.requests: list[ModelRequest] = []
        """Every request received, in order."""

    @property
    def name(self) -> str:
        """`function:<name>`."""
        return f"function:{self._name}"

    async def aclose(self) -> None:
        """Nothing to release."""

    async def complete(self, request: ModelRequest) -> ModelTurn:
        """Record the request and return the function's answer."""
        self.requests.append(request)
        turn = self._respond(request)
        if inspect.isawaitable(turn):
            turn = await turn
        return turn
