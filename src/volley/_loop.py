"""The turns of a run: ask the model, run its calls, record the turn, until it answers.

`Agent` holds what a run is made of (the model, the tools, the limits); this is the loop it
plays for `run` and `resume`, one `Executor` for the whole run, so that a run's calls share its
limits and a tool's thread outliving its timeout is waited for by the next turn's conflicting
calls.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from ._dispatch import writes
from ._durable import Approvals
from ._errors import IncompleteTurn, MaxTurnsExceeded, RunError
from ._events import TurnFinished
from ._executor import Executor
from ._messages import Message, ModelTurn, ToolReturns
from ._opening import Opened, finish_open_turn, paused_result
from ._plan import PLAN_TOOL, Plans
from ._result import RunResult
from ._stats import RunStats, TurnStats
from ._toolbox import Toolbox
from ._turn import Emit, TurnAbandoned, play_turn
from .providers import ModelRequest, StreamingProvider

if TYPE_CHECKING:
    from ._agent import Agent

__all__ = ["SERIAL_TURNS_WARNING", "play_turns"]

logger = logging.getLogger("volley")

SERIAL_TURNS_WARNING = 3
"""After this many single-call turns in a row, a run logs that nothing ran in parallel."""


async def play_turns(
    agent: Agent,
    opened: Opened,
    emit: Emit | None,
    clock: Callable[[], float],
    approvals: Approvals,
    plans_of: Callable[[Toolbox], Plans | None],
    current_tools: Callable[[Toolbox | None], Awaitable[Toolbox]],
) -> RunResult:
    """Play the run's turns from where `opened` left it, until the model answers.

    Returns the run's result: its answer, or (`status="paused"`) the calls waiting for a person.

    Raises:
        MaxTurnsExceeded: the model was still calling tools after `agent.max_turns` turns.
        IncompleteTurn: a message was cut, refused, or its stream kept breaking.
        RunError: anything else that stopped the run, with the transcript so far.
    """
    log = opened.log
    messages: list[Message] = opened.messages
    turns: list[TurnStats] = opened.turns
    started = clock()
    serial_turns = 0
    stream = agent.streaming and isinstance(agent.model, StreamingProvider)

    def stats() -> RunStats:
        return RunStats(tuple(turns), clock() - started)

    async with Executor(
        opened.toolbox,
        max_concurrency=agent.max_concurrency,
        timeout=agent.tool_timeout,
        clock=clock,
        backend=agent.backend,
        max_threads=agent.max_threads,
        dedupe=agent.dedupe,
        retry_wait=agent.retry_wait,
        max_hedges=agent.max_hedges,
    ) as executor:
        for index in range(opened.index, agent.max_turns + 1):
            try:
                if opened.open is not None and index == opened.index:
                    played = await finish_open_turn(
                        opened,
                        executor,
                        approvals.needed,
                        clock,
                        emit,
                        plans_of(executor.toolbox),
                    )
                else:
                    if index > 1 and any(source.tools_changed for source in agent.sources):
                        executor.toolbox = await current_tools(executor.toolbox)
                    played = await play_turn(
                        agent.model,
                        _request(agent, messages, executor.toolbox, plans_of(executor.toolbox)),
                        executor,
                        index=index,
                        clock=clock,
                        emit=emit,
                        stream=stream,
                        retries=agent.stream_retries,
                        patience=agent.patience,
                        recorder=log,
                        holds=approvals.holds(executor.toolbox)
                        if agent.journal is not None
                        else None,
                        plans=plans_of(executor.toolbox),
                    )
                if played.pending:
                    await log.pause(played.pending, played.waiting)
                    return paused_result(log, played, messages, stats())
                if log.journal is not None:
                    await log.turn_ended(played.stats)
            except TurnAbandoned as exc:
                raise IncompleteTurn(str(exc), exc.message, messages, stats()) from exc
            except RunError as exc:  # a provider's failure: the turns so far are kept
                raise exc.with_transcript(messages, stats()) from exc.__cause__
            except Exception as exc:  # anything else: still a RunError with the transcript
                raise RunError(
                    f"turn {index} failed: {type(exc).__name__}: {exc}", messages, stats()
                ) from exc
            messages.append(played.message)
            turns.append(played.stats)
            if played.message.calls:
                messages.append(ToolReturns(played.results))
            if emit is not None:
                emit(TurnFinished(index, played.message, played.results, played.stats))
            if not played.message.calls:
                result = RunResult(played.message.text, messages, stats(), log.run_id)
                try:
                    await log.end(result.output)
                except Exception as exc:
                    why = f"the run's end could not be recorded: {exc}"
                    raise RunError(why, messages, result.stats) from exc
                return result
            batchable = _could_have_batched(played.message, executor.toolbox)
            serial_turns = serial_turns + 1 if batchable else 0
            if serial_turns == SERIAL_TURNS_WARNING and agent.parallel:
                logger.warning(
                    "%s asked for one tool call per turn %d turns in a row, of tools that "
                    "write nothing, so nothing ran in parallel; check that the provider "
                    "allows parallel calls and that the instructions do not ask for one "
                    "call at a time",
                    agent.model.name,
                    serial_turns,
                )
    raise MaxTurnsExceeded(agent.max_turns, messages, stats())


def _request(
    agent: Agent, messages: list[Message], toolbox: Toolbox, plans: Plans | None
) -> ModelRequest:
    return ModelRequest(
        messages=tuple(messages),
        tools=(*toolbox, plans.tool()) if plans is not None else tuple(toolbox),
        streamed_arguments=frozenset({PLAN_TOOL}) if plans is not None else frozenset(),
        instructions=agent.instructions,
        parallel=agent.parallel,
        max_tokens=agent.max_tokens,
    )


def _could_have_batched(turn: ModelTurn, toolbox: Toolbox) -> bool:
    """A single call of a tool that writes nothing: it need not have come alone."""
    call = turn.calls[0] if len(turn.calls) == 1 else None
    return call is not None and call.name != PLAN_TOOL and not writes(toolbox.get(call.name))
