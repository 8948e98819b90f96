"""The agent loop: model turn, all of its calls at once, all results in one message, repeat."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from ._deadlines import loop_clock
from ._executor import Executor
from ._messages import Message, ModelTurn, ToolReturns, UserPrompt
from ._stats import BatchStats, RunStats, TurnStats
from ._tool import Tool, Toolbox
from .providers import ModelRequest, Provider, resolve

__all__ = ["BATCHING_HINT", "Agent", "MaxTurnsExceeded", "RunResult"]

logger = logging.getLogger("volley")

BATCHING_HINT = (
    "You can call several tools in one response, and they run at the same time. When calls do "
    "not need each other's results (reading several files, fetching several pages, looking up "
    "several cities), make them all in the same response instead of one per turn. Wait for a "
    "result only when you need it to choose the arguments of the next call."
)
"""Added to the instructions (unless `batching_hint=False`) so models batch independent calls."""

SERIAL_TURNS_WARNING = 3
"""After this many single-call turns in a row, a run logs that nothing ran in parallel."""


@dataclass(frozen=True, slots=True)
class RunResult:
    """What an agent run produced."""

    output: str
    """The model's final answer."""
    messages: list[Message]
    """The whole conversation, in neutral form."""
    stats: RunStats
    """Figures of the run: round trips, calls per turn, time saved, tokens."""

    @property
    def turns(self) -> tuple[TurnStats, ...]:
        """Each round trip's figures."""
        return self.stats.turns


class MaxTurnsExceeded(RuntimeError):
    """The model kept calling tools past `max_turns`; the transcript so far is kept."""

    def __init__(self, max_turns: int, messages: list[Message], stats: RunStats) -> None:
        super().__init__(
            f"the model was still calling tools after {max_turns} turns; raise max_turns, or "
            "read .messages to see what it was doing"
        )
        self.messages = messages
        self.stats = stats


class Agent:
    """A model and its tools, run in a loop until the model answers.

    Every turn's calls go through one `Executor` batch: at once where that is safe, in order
    where it is not, every call answered, all answers returned in one message.

    Args:
        model: `provider:model` (`anthropic:claude-sonnet-4-6`, `openai:gpt-5.4`,
            `openai-compatible:<base_url>:<model>`) or a provider adapter.
        client: the SDK client for a model string (e.g. an `AsyncAnthropic` with your retry
            settings); by default the adapter makes one from the environment.
        tools: the tools the model may call (tools, plain functions, or a `Toolbox`).
        instructions: the system prompt.
        parallel: let the model ask for several calls per turn (where the provider has a switch).
        batching_hint: add `BATCHING_HINT` to the instructions when `parallel` is on.
        max_turns: round trips before `MaxTurnsExceeded`.
        max_tokens: cap on the tokens of each model turn (the adapter's default if `None`).
        max_concurrency: tool calls running at once.
        tool_timeout: seconds per tool attempt for tools that set none.
        clock: where the figures' times come from (default: the event loop's clock).
    """

    def __init__(
        self,
        model: str | Provider,
        tools: Toolbox | Iterable[Tool[..., Any] | Callable[..., Any]] = (),
        *,
        client: Any = None,
        instructions: str | None = None,
        parallel: bool = True,
        batching_hint: bool = True,
        max_turns: int = 20,
        max_tokens: int | None = None,
        max_concurrency: int = 64,
        tool_timeout: float | None = 60.0,
        clock: Callable[[], float] | None = None,
    ) -> None:
        if max_turns < 1:
            raise ValueError("max_turns must be >= 1")
        self.model = resolve(model, client=client) if client is not None else resolve(model)
        self.toolbox = tools if isinstance(tools, Toolbox) else Toolbox(tools)
        self.parallel = parallel
        self.max_turns = max_turns
        self.max_tokens = max_tokens
        self.max_concurrency = max_concurrency
        self.tool_timeout = tool_timeout
        self._clock = clock
        hint = BATCHING_HINT if parallel and batching_hint and len(self.toolbox) else None
        self.instructions = "\n\n".join(part for part in (instructions, hint) if part) or None

    def run_sync(self, prompt: str) -> RunResult:
        """`run` for code that has no event loop of its own."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(self.run(prompt))
        raise RuntimeError("run_sync cannot be used inside an event loop; await agent.run()")

    async def run(self, prompt: str) -> RunResult:
        """Run the loop until the model answers without calling a tool."""
        clock = self._clock or loop_clock(asyncio.get_running_loop())
        messages: list[Message] = [UserPrompt(prompt)]
        turns: list[TurnStats] = []
        started = clock()
        serial_turns = 0
        async with Executor(
            self.toolbox,
            max_concurrency=self.max_concurrency,
            timeout=self.tool_timeout,
            clock=clock,
        ) as executor:
            for index in range(1, self.max_turns + 1):
                asked = clock()
                turn = await self.model.complete(self._request(messages))
                model_time = clock() - asked
                messages.append(turn)
                if not turn.calls:
                    turns.append(_turn_stats(index, turn, model_time))
                    return RunResult(turn.text, messages, RunStats(tuple(turns), clock() - started))
                batch = executor.batch()
                batch.submit_many(turn.calls)
                results = await batch.close()
                messages.append(ToolReturns(tuple(results)))
                turns.append(_turn_stats(index, turn, model_time, batch.stats))
                serial_turns = serial_turns + 1 if self._could_have_batched(turn) else 0
                if serial_turns == SERIAL_TURNS_WARNING and self.parallel:
                    logger.warning(
                        "%s asked for one tool call per turn %d turns in a row, of tools that "
                        "write nothing, so nothing ran in parallel; check that the provider "
                        "allows parallel calls and that the instructions do not ask for one "
                        "call at a time",
                        self.model.name,
                        serial_turns,
                    )
        raise MaxTurnsExceeded(self.max_turns, messages, RunStats(tuple(turns), clock() - started))

    def _could_have_batched(self, turn: ModelTurn) -> bool:
        """A single call of a tool that writes nothing: it need not have come alone."""
        if len(turn.calls) != 1:
            return False
        tool = self.toolbox.get(turn.calls[0].name)
        return tool is None or (tool.effects != "write" and tool.writes is None)

    def _request(self, messages: list[Message]) -> ModelRequest:
        return ModelRequest(
            messages=tuple(messages),
            tools=tuple(self.toolbox),
            instructions=self.instructions,
            parallel=self.parallel,
            max_tokens=self.max_tokens,
        )


def _turn_stats(
    index: int, turn: ModelTurn, model_time: float, batch: BatchStats | None = None
) -> TurnStats:
    return TurnStats(
        index=index,
        calls=len(turn.calls),
        model_time=model_time,
        input_tokens=turn.usage.input_tokens,
        output_tokens=turn.usage.output_tokens,
        batch=batch,
    )
