"""A backend given to an agent: every body runs through it, it outlives the runs, and a body it
lost mid-run is an unknown outcome, never retried."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

from volley import Agent, ErrorKind, Executor, InProcessBackend, ModelTurn, Tool, ToolCall, tool
from volley._errors import OutcomeUnknown
from volley.providers import FunctionProvider, ModelRequest


class Recording:
    """In-process, noting each body it starts; loses `lose` bodies as a dead worker would."""

    def __init__(self, lose: frozenset[str] = frozenset()) -> None:
        self.inner = InProcessBackend(max_threads=4)
        self.started: list[str] = []
        self.closed = False
        self.lose = lose

    def start(self, tool: Tool[..., Any], kwargs: dict[str, Any]) -> Awaitable[Any]:
        self.started.append(tool.name)
        if tool.name in self.lose:
            return self._lost()
        return self.inner.start(tool, kwargs)

    async def _lost(self) -> Any:
        raise OutcomeUnknown("its worker died while it ran")

    def close(self) -> None:
        self.closed = True
        self.inner.close()


@tool(effects="read")
def read(key: str) -> str:
    """Read."""
    return f"read {key}"


@tool(writes=lambda a: [a["key"]], retries=2, idempotent=True)
async def put(key: str) -> str:
    """Write, idempotently."""
    return f"put {key}"


@tool(writes=lambda a: [a["key"]])
async def charge(key: str) -> str:
    """Write."""
    return "charged"


def model() -> FunctionProvider:
    def respond(request: ModelRequest) -> ModelTurn:
        if len(request.messages) == 1:
            calls = (ToolCall("a", "read", {"key": "k"}), ToolCall("b", "put", {"key": "k"}))
            return ModelTurn(calls=calls, stop="tool_calls")
        return ModelTurn(text="ok")

    return FunctionProvider(respond)


def test_an_agents_backend_runs_every_body_and_outlives_its_runs() -> None:
    backend = Recording()
    agent = Agent(model(), [read, put], backend=backend, max_threads=2, dedupe=False)
    assert agent.run_sync("one").output == "ok"
    assert agent.run_sync("two").output == "ok"
    assert sorted(backend.started) == ["put", "put", "read", "read"]
    assert not backend.closed
    backend.close()


def test_a_body_lost_by_its_backend_is_an_unknown_outcome_never_retried() -> None:
    backend = Recording(lose=frozenset({"charge", "put"}))

    async def main() -> list[Any]:
        async with Executor([charge, put], backend=backend) as ex:
            return await ex.run(
                [ToolCall("c", "charge", {"key": "x"}), ToolCall("p", "put", {"key": "y"})]
            )

    results = asyncio.run(main())
    for result in results:
        assert result.error_kind is ErrorKind.OUTCOME_UNKNOWN
        assert "worker died" in result.content
        assert result.attempts == 1
    assert backend.started == ["charge", "put"]  # put may retry, but never on an unknown outcome
    backend.close()
