"""A run that cannot finish still keeps its transcript; a cut message never passes for an answer.

Over every adapter and its official SDK against the simulator: a message cut by the output cap
(even inside its first call) raises `IncompleteTurn`, streamed or not; a provider that fails after
a turn has run its writes (rate limit, 5xx, refusal, no connection, a timeout) raises a
`ProviderError` of the right kind whose `messages` can be sent again; a model that stalls is given
up on after `request_timeout`, and a stream that falls silent is asked again.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx2
import pytest
from _vtime import vrun
from anthropic import AsyncAnthropic
from google import genai
from google.genai import types
from openai import AsyncOpenAI

from tests._sim import SCENARIO
from volley import (
    Agent,
    IncompleteTurn,
    ModelTurn,
    ProviderError,
    RunError,
    ToolCall,
    ToolReturns,
    TurnRetried,
    UserPrompt,
    tool,
)
from volley.providers import ModelRequest, Provider, streams
from volley.providers.anthropic import AnthropicProvider
from volley.providers.gemini import GeminiProvider
from volley.providers.openai_chat import OpenAIChatProvider
from volley.providers.openai_responses import OpenAIResponsesProvider
from volley.sim import SimServer, parse_scenario

ran: list[str] = []


@tool(effects="read")
async def get_weather(city: str, days: list[int] | None = None) -> str:
    ran.append(f"weather {city}")
    return f"sunny in {city}"


@tool(effects="read")
async def get_time(zone: str) -> str:
    ran.append(f"time {zone}")
    return f"noon in {zone}"


@tool(effects="write")
async def save(name: str) -> str:
    ran.append(f"save {name}")
    return "saved"


class Faulty(httpx2.AsyncBaseTransport):
    """Passes the first `ok` requests to the simulator; then fails each the way `fault` says."""

    def __init__(self, ok: int, fault: Callable[[httpx2.Request], httpx2.Response]) -> None:
        self.ok = ok
        self.fault = fault
        self.inner = httpx2.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        if self.ok > 0:
            self.ok -= 1
            return await self.inner.handle_async_request(request)
        return self.fault(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


def status(code: int) -> Callable[[httpx2.Request], httpx2.Response]:
    body = {
        "type": "error",
        "error": {"type": "api_error", "message": f"status {code}", "code": code, "status": "X"},
    }
    return lambda request: httpx2.Response(code, json=body)


def raising(exc: type[Exception]) -> Callable[[httpx2.Request], httpx2.Response]:
    def fail(request: httpx2.Request) -> httpx2.Response:
        raise exc("injected", request=request)  # type: ignore[call-arg]

    return fail


FAULTS = {
    "rate_limited": status(429),
    "server": status(503),
    "rejected": status(400),
    "connection": raising(httpx2.ConnectError),
    "timeout": raising(httpx2.ReadTimeout),
}


OWN_HTTP: dict[int, httpx2.AsyncClient] = {}


def make(fmt: str, sim: SimServer, transport: httpx2.AsyncBaseTransport | None) -> Provider:
    http = httpx2.AsyncClient(transport=transport) if transport is not None else None
    provider = _make(fmt, sim, http)
    if http is not None:
        OWN_HTTP[id(provider)] = http
    return provider


def _make(fmt: str, sim: SimServer, http: httpx2.AsyncClient | None) -> Provider:
    if fmt == "anthropic":
        client = AsyncAnthropic(base_url=sim.base_url, api_key="x", max_retries=0, http_client=http)
        return AnthropicProvider("claude-sim", client=client)
    if fmt == "gemini":
        options = types.HttpOptions(base_url=sim.base_url, retry_options=None)
        if http is not None:
            options.httpx_async_client = http
        return GeminiProvider("gemini-sim", client=genai.Client(api_key="x", http_options=options))
    openai_client = AsyncOpenAI(
        base_url=sim.base_url + "/v1", api_key="x", max_retries=0, http_client=http
    )
    if fmt == "openai_chat":
        return OpenAIChatProvider("gpt-sim", client=openai_client)
    return OpenAIResponsesProvider("gpt-sim", client=openai_client)


async def close(provider: Provider) -> None:
    if isinstance(provider, GeminiProvider):
        await provider.client.aio.aclose()
    else:
        await provider.client.close()  # type: ignore[attr-defined]
    http = OWN_HTTP.pop(id(provider), None)
    if http is not None:  # genai leaves a client it was given open
        await http.aclose()


FORMATS = ["anthropic", "openai_chat", "openai_responses", "gemini"]

# The first turn of SCENARIO needs 48 output tokens: text 6, then calls of 10, 20 and 12. The
# caps fall in the text, on the first call's name, inside its arguments (the first call is the
# only one started), at its end, inside the second. Responses refuses a cap under 16.
CAPS = [3, 7, 10, 15, 16, 30]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("streaming", [True, False], ids=["streamed", "whole"])
def test_a_message_cut_anywhere_by_the_output_cap_is_an_incomplete_turn(fmt, streaming):
    async def main() -> list[BaseException | None]:
        outcomes: list[BaseException | None] = []
        async with SimServer(SCENARIO, time_scale=0) as sim:
            for cap in caps:
                provider = make(fmt, sim, None)
                agent = Agent(
                    provider, [get_weather, get_time], max_tokens=cap, streaming=streaming
                )
                try:
                    await agent.run("Weather and time?")
                    outcomes.append(None)
                except IncompleteTurn as exc:
                    outcomes.append(exc)
                finally:
                    await close(provider)
        return outcomes

    caps = [cap for cap in CAPS if cap >= 16 or fmt != "openai_responses"]
    ran.clear()
    outcomes = asyncio.run(main())
    for cap, outcome in zip(caps, outcomes, strict=True):
        assert isinstance(outcome, IncompleteTurn), (cap, outcome)
        assert "output tokens" in str(outcome)
        assert outcome.messages == [UserPrompt("Weather and time?")]
    assert ran == []


SAVE_THEN_ANSWER = parse_scenario(
    json.dumps(
        {
            "turns": [
                {"calls": [{"name": "save", "arguments": {"name": "invoice"}}]},
                {"text": "Saved."},
            ]
        }
    )
)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("kind", list(FAULTS))
@pytest.mark.parametrize("streaming", [True, False], ids=["streamed", "whole"])
def test_a_provider_failure_after_a_write_keeps_a_transcript_that_can_be_sent_again(
    fmt, kind, streaming
):
    async def main() -> tuple[RunError, ModelTurn]:
        async with SimServer(SAVE_THEN_ANSWER, time_scale=0) as sim:
            provider = make(fmt, sim, Faulty(1, FAULTS[kind]))
            try:
                with pytest.raises(RunError) as caught:
                    await Agent(provider, [save], streaming=streaming).run("save it")
            finally:
                await close(provider)
            # The transcript goes back to a working provider as it is, and the run goes on.
            healthy = make(fmt, sim, None)
            try:
                request = ModelRequest(messages=caught.value.messages, tools=[save])
                again = await healthy.complete(request)
            finally:
                await close(healthy)
            return caught.value, again

    ran.clear()
    error, again = asyncio.run(main())
    assert isinstance(error, ProviderError), error
    assert error.kind == kind, error
    assert error.retryable == (kind != "rejected")
    assert ran == ["save invoice"]  # the write ran once; a caller who retries need not repeat it
    prompt, turn, returns = error.messages
    assert prompt == UserPrompt("save it")
    assert isinstance(turn, ModelTurn)
    assert [c.name for c in turn.calls] == ["save"]
    assert isinstance(returns, ToolReturns)
    assert returns.results[0].content == "saved"
    assert len(error.stats.turns) == 1
    assert again.text == "Saved."


def test_a_404_from_a_base_url_without_v1_says_so() -> None:
    async def main() -> ProviderError:
        async with SimServer(SAVE_THEN_ANSWER, time_scale=0) as sim:
            client = AsyncOpenAI(base_url=sim.base_url, api_key="x", max_retries=0)
            provider = OpenAIChatProvider("gpt-sim", client=client)
            try:
                with pytest.raises(ProviderError) as caught:
                    await Agent(provider, [save]).run("save it")
            finally:
                await client.close()
            return caught.value

    error = asyncio.run(main())
    assert error.status == 404
    assert "/v1" in str(error)


# -- a model that stalls ----------------------------------------------------------------------


class Stalling:
    """A streaming provider whose first `stalls` answers stop mid-way and never go on."""

    name = "scripted:stalling"

    def __init__(self, stalls: int, *, stream_stalls: bool = True) -> None:
        self.stalls = stalls
        self.asked = 0
        self.stream_stalls = stream_stalls

    async def aclose(self) -> None:
        pass

    def _turn(self, request: ModelRequest) -> ModelTurn:
        if any(isinstance(m, ToolReturns) for m in request.messages):
            return ModelTurn(text="done")
        return ModelTurn(calls=(ToolCall("c1", "save", {"name": "x"}),), stop="tool_calls")

    async def complete(self, request: ModelRequest) -> ModelTurn:
        self.asked += 1
        if self.asked <= self.stalls:
            await asyncio.sleep(10**6)
        return self._turn(request)

    async def stream(self, request: ModelRequest) -> AsyncIterator[Any]:
        self.asked += 1
        turn = self._turn(request)
        yield streams.TextDelta("thinking")
        if self.asked <= self.stalls and self.stream_stalls:
            await asyncio.sleep(10**6)
        for index, call in enumerate(turn.calls):
            yield streams.CallComplete(call, index)
        yield streams.TurnEnd(turn.stop, turn.usage, "scripted")
        yield turn


def test_a_stream_that_falls_silent_is_asked_again() -> None:
    model = Stalling(1)

    async def main() -> list[Any]:
        agent = Agent(model, [save], idle_timeout=30)
        return [event async for event in agent.run_stream("go")]

    ran.clear()
    events = vrun(main)
    retried = [e for e in events if isinstance(e, TurnRetried)]
    assert len(retried) == 1
    assert "silent for 30 s" in retried[0].error
    assert events[-1].result.output == "done"
    assert ran == ["save x"]


def test_a_model_that_never_answers_is_given_up_on_with_the_transcript() -> None:
    model = Stalling(5)
    started: dict[str, float] = {}

    async def main() -> ProviderError:
        loop = asyncio.get_running_loop()
        started["at"] = loop.time()
        with pytest.raises(ProviderError) as caught:
            await Agent(model, [save], streaming=False, request_timeout=50).run("go")
        started["took"] = loop.time() - started["at"]
        return caught.value

    error = vrun(main)
    assert error.kind == "timeout"
    assert "request_timeout" in str(error)
    assert started["took"] == pytest.approx(50)
    assert error.messages == [UserPrompt("go")]


def test_a_slow_whole_stream_is_given_up_on_too() -> None:
    class Dribbling(Stalling):
        async def stream(self, request: ModelRequest) -> AsyncIterator[Any]:
            while True:  # an event every 10 s, never an end
                await asyncio.sleep(10)
                yield streams.TextDelta(".")

    async def main() -> ProviderError:
        with pytest.raises(ProviderError) as caught:
            await Agent(Dribbling(0), [save], request_timeout=100, idle_timeout=30).run("go")
        return caught.value

    assert vrun(main).kind == "timeout"


def test_an_unexpected_error_underneath_is_a_run_error_with_the_transcript() -> None:
    class Broken(Stalling):
        async def complete(self, request: ModelRequest) -> ModelTurn:
            if any(isinstance(m, ToolReturns) for m in request.messages):
                raise RecursionError("an adapter bug")
            return self._turn(request)

    async def main() -> RunError:
        with pytest.raises(RunError) as caught:
            await Agent(Broken(0), [save], streaming=False).run("go")
        return caught.value

    ran.clear()
    error = vrun(main)
    assert type(error) is RunError
    assert isinstance(error.__cause__, RecursionError)
    assert len(error.messages) == 3
    assert ran == ["save x"]
