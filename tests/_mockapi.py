"""A provider API stand-in on the SDKs' own mock transport: canned answers, requests kept."""

from __future__ import annotations

import json
from typing import Any

import httpx2


class MockAPI:
    """Answers each request with the next canned `(status, body)`; keeps what it was sent."""

    def __init__(self, *responses: tuple[int, dict[str, Any]]) -> None:
        self.responses = list(responses)
        self.requests: list[dict[str, Any]] = []

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(json.loads(request.content))
        status, body = self.responses.pop(0)
        return httpx2.Response(status, json=body)

    def http_client(self) -> httpx2.AsyncClient:
        """An `httpx2.AsyncClient` that never leaves the process."""
        return httpx2.AsyncClient(transport=httpx2.MockTransport(self))
