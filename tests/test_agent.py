"""The agent loop against a scripted model: turns, one results message per turn, figures."""

from __future__ import annotations

import asyncio
import logging

import pytest
from _vtime import vrun

from volley import (
    Agent,
    ErrorKind,
    IncompleteTurn,
    MaxTurnsExceeded,
    ModelTurn,
    ToolCall,
    ToolReturns,
    Usage,
    UserPrompt,
    tool,
)
from volley.providers import FunctionProvider, ModelRequest


@tool(effects="read")
async def get_weather(city: str) -> str:
    await asyncio.sleep(1)
    return f"Sunny in {city}"


@tool(effects="read")
async def get_time(city: str) -> str:
    await asyncio.sleep(1)
    return f"12:00 in {city}"


CITIES = [("get_weather", "Paris"), ("get_weather", "Berlin"), ("get_time", "Tokyo")]


def scripted(request: ModelRequest) -> ModelTurn:
    """Asks for every call at once if allowed, one per turn if not, then answers."""
    done = sum(len(m.results) for m in request.messages if isinstance(m, ToolReturns))
    if done == len(CITIES):
        answers = [
            r.content for m in request.messages if isinstance(m, ToolReturns) for r in m.results
        ]
        return ModelTurn(text="; ".join(answers), usage=Usage(100 * len(request.messages), 20))
    todo = CITIES[done:] if request.parallel else CITIES[done : done + 1]
    calls = tuple(
        ToolCall(f"call_{done + i}", name, {"city": city}) for i, (name, city) in enumerate(todo)
    )
    return ModelTurn(calls=calls, stop="tool_calls", usage=Usage(100 * len(request.messages), 10))


def test_parallel_turn_takes_two_round_trips_and_one_second_of_tools() -> None:
    model = FunctionProvider(scripted)
    result = vrun(
        lambda: Agent(model, [get_weather, get_time]).run(
            "Weather in Paris and Berlin, time in Tokyo?"
        )
    )
    assert result.output == "Sunny in Paris; Sunny in Berlin; 12:00 in Tokyo"
    assert result.stats.round_trips == 2
    assert result.stats.calls_per_turn == [3, 0]
    assert result.stats.tool_time == pytest.approx(1.0)
    assert result.stats.time_saved == pytest.approx(2.0)
    assert [t.wall_time for t in result.turns] == pytest.approx([1.0, 0.0])
    assert [m.kind for m in result.messages] == ["user", "model", "tools", "model"]
    (returns,) = [m for m in result.messages if isinstance(m, ToolReturns)]
    assert [r.call_id for r in returns.results] == ["call_0", "call_1", "call_2"]


def test_one_call_per_turn_takes_four_round_trips_and_reads_more_tokens() -> None:
    parallel = vrun(lambda: Agent(FunctionProvider(scripted), [get_weather, get_time]).run("?"))
    serial_agent = Agent(FunctionProvider(scripted), [get_weather, get_time], parallel=False)
    serial = vrun(lambda: serial_agent.run("?"))
    assert serial.stats.round_trips == 4
    assert serial.stats.calls_per_turn == [1, 1, 1, 0]
    assert serial.stats.tool_time == pytest.approx(3.0)
    assert serial.stats.input_tokens > parallel.stats.input_tokens
    assert serial.output == parallel.output


def test_the_batching_hint_is_sent_only_when_parallel_calls_are_allowed() -> None:
    model = FunctionProvider(scripted)
    vrun(lambda: Agent(model, [get_weather, get_time], instructions="Be brief.").run("?"))
    assert model.requests[0].instructions is not None
    assert model.requests[0].instructions.startswith("Be brief.\n\nYou can call several tools")
    serial = FunctionProvider(scripted)
    vrun(
        lambda: Agent(
            serial, [get_weather, get_time], parallel=False, instructions="Be brief."
        ).run("?")
    )
    assert serial.requests[0].instructions == "Be brief."
    assert serial.requests[0].parallel is False


def test_bad_calls_become_results_the_model_reads_and_the_run_goes_on() -> None:
    def model(request: ModelRequest) -> ModelTurn:
        if len(request.messages) == 1:
            calls = (
                ToolCall("a", "get_weather", '{"city": "Par'),
                ToolCall("b", "get_wether", {"city": "Rome"}),
                ToolCall("c", "get_weather", {"city": "Oslo"}),
            )
            return ModelTurn(calls=calls, stop="tool_calls")
        (returns,) = [m for m in request.messages if isinstance(m, ToolReturns)]
        return ModelTurn(text=" | ".join(str(r.error_kind) for r in returns.results))

    result = vrun(lambda: Agent(FunctionProvider(model), [get_weather]).run("?"))
    assert result.output == f"{ErrorKind.INVALID_ARGUMENTS} | {ErrorKind.UNKNOWN_TOOL} | None"


def test_max_turns_is_a_clear_error_that_keeps_the_transcript() -> None:
    def forever(request: ModelRequest) -> ModelTurn:
        n = len(request.messages)
        return ModelTurn(
            calls=(ToolCall(f"c{n}", "get_time", {"city": "Lima"}),), stop="tool_calls"
        )

    with pytest.raises(MaxTurnsExceeded, match="after 3 turns") as caught:
        vrun(lambda: Agent(FunctionProvider(forever), [get_time], max_turns=3).run("?"))
    assert isinstance(caught.value.messages[0], UserPrompt)
    assert len(caught.value.messages) == 1 + 3 * 2
    assert caught.value.stats.round_trips == 3


def test_a_model_that_never_batches_is_reported(caplog: pytest.LogCaptureFixture) -> None:
    def one_at_a_time(request: ModelRequest) -> ModelTurn:
        n = len(request.messages)
        if n > 8:
            return ModelTurn(text="done")
        return ModelTurn(
            calls=(ToolCall(f"c{n}", "get_time", {"city": "Lima"}),), stop="tool_calls"
        )

    with caplog.at_level(logging.WARNING, logger="volley"):
        vrun(lambda: Agent(FunctionProvider(one_at_a_time), [get_time]).run("?"))
    warnings = [r for r in caplog.records if "one tool call per turn" in r.getMessage()]
    assert len(warnings) == 1


def test_run_sync_runs_without_a_loop_and_refuses_inside_one() -> None:
    agent = Agent(FunctionProvider(lambda request: ModelTurn(text="hi")))
    assert agent.run_sync("hello").output == "hi"

    async def inside() -> None:
        agent.run_sync("hello")

    with pytest.raises(RuntimeError, match=r"await agent\.run"):
        asyncio.run(inside())


def test_model_strings_pick_the_adapter(monkeypatch: pytest.MonkeyPatch) -> None:
    from volley.providers import resolve
    from volley.providers.anthropic import AnthropicProvider
    from volley.providers.openai_chat import OpenAIChatProvider

    monkeypatch.setenv("ANTHROPIC_API_KEY", "test")
    monkeypatch.setenv("OPENAI_API_KEY", "test")
    claude = Agent("anthropic:claude-sonnet-4-6", [get_time]).model
    assert isinstance(claude, AnthropicProvider)
    assert claude.name == "anthropic:claude-sonnet-4-6"
    gpt = resolve("openai:gpt-5.4")
    assert isinstance(gpt, OpenAIChatProvider)
    assert gpt.name == "openai:gpt-5.4"
    local = resolve("openai-compatible:http://localhost:11434/v1:qwen3")
    assert isinstance(local, OpenAIChatProvider)
    assert local.name == "openai-compatible:qwen3"
    assert str(local.client.base_url) == "http://localhost:11434/v1/"
    from volley.providers.gemini import GeminiProvider

    monkeypatch.setenv("GOOGLE_API_KEY", "test")
    assert isinstance(resolve("gemini:gemini-3.1-pro"), GeminiProvider)
    for bad in ("claude", "mystery:model", "openai-compatible:qwen3", "anthropic:"):
        with pytest.raises(ValueError, match=r"write (<provider>|openai-compatible)"):
            resolve(bad)


def test_one_write_per_turn_is_not_reported(caplog: pytest.LogCaptureFixture) -> None:
    @tool(effects="write")
    async def save(key: str) -> None: ...

    def one_write_at_a_time(request: ModelRequest) -> ModelTurn:
        n = len(request.messages)
        if n > 8:
            return ModelTurn(text="done")
        return ModelTurn(calls=(ToolCall(f"c{n}", "save", {"key": "k"}),), stop="tool_calls")

    with caplog.at_level(logging.WARNING, logger="volley"):
        vrun(lambda: Agent(FunctionProvider(one_write_at_a_time), [save]).run("?"))
    assert not [r for r in caplog.records if "one tool call per turn" in r.getMessage()]


def test_a_client_is_handed_to_the_adapter_a_model_string_names() -> None:
    from anthropic import AsyncAnthropic

    client = AsyncAnthropic(api_key="test", max_retries=7)
    agent = Agent("anthropic:claude-sonnet-4-6", [get_time], client=client)
    assert agent.model.client is client  # type: ignore[attr-defined]


@pytest.mark.parametrize("stop", ["max_tokens", "refused"])
def test_a_cut_message_runs_none_of_its_calls_and_is_not_kept(stop: str) -> None:
    ran: list[str] = []

    @tool(effects="write")
    def save(name: str) -> str:
        ran.append(name)
        return "saved"

    def cut(request: ModelRequest) -> ModelTurn:
        return ModelTurn(calls=(ToolCall("c1", "save", {"name": "a"}),), stop=stop)  # type: ignore[arg-type]

    with pytest.raises(IncompleteTurn, match="turn 1 could not be used") as caught:
        vrun(lambda: Agent(FunctionProvider(cut), [save]).run("save a"))
    assert ran == []
    assert caught.value.messages == [UserPrompt("save a")]
    assert caught.value.turn is not None
    assert caught.value.turn.stop == stop


def test_a_cut_answer_without_calls_is_still_the_answer() -> None:
    model = FunctionProvider(lambda request: ModelTurn(text="The answer is", stop="max_tokens"))
    assert vrun(lambda: Agent(model).run("?")).output == "The answer is"


def test_observers_hear_every_event_of_every_run_as_run_stream_yields_them() -> None:
    heard: list[object] = []
    agent = Agent(FunctionProvider(scripted), [get_weather, get_time], observers=[heard.append])

    async def both() -> list[object]:
        await agent.run("?")
        return [event async for event in agent.run_stream("?")]

    streamed = vrun(both)
    assert heard[len(streamed) :] == streamed  # what run_stream yields, observers hear
    assert [type(e) for e in heard[: len(streamed)]] == [type(e) for e in streamed]  # and run
    assert [type(e).__name__ for e in streamed] == [
        "RunStarted",
        *["CallStarted"] * 3,
        *["CallFinished"] * 3,
        "TurnFinished",
        "TurnFinished",
        "RunFinished",
    ]


def test_an_agent_closes_the_client_it_made_and_only_that(monkeypatch: pytest.MonkeyPatch) -> None:
    from openai import AsyncOpenAI

    from volley.providers.openai_chat import OpenAIChatProvider

    monkeypatch.setenv("OPENAI_API_KEY", "test")
    yours = OpenAIChatProvider("m", client=AsyncOpenAI(base_url="http://127.0.0.1:9/v1"))

    async def both() -> tuple[bool, bool]:
        async with Agent("openai-compatible:http://127.0.0.1:9/v1:m") as made:
            pass
        async with Agent(yours):
            pass
        closed = made.model.client.is_closed(), yours.client.is_closed()  # type: ignore[attr-defined]
        await yours.client.close()
        return closed

    assert asyncio.run(both()) == (True, False)
