"""Where a run starts from: a new prompt, or its journal (a resume), or its recorded end.

A new run is recorded before anything else happens, so a second run with the same id is
refused; one that already finished gives back its recorded result without asking the model.
A resumed run takes the run's lease first (one process at a time), reads the journal back,
records the approvals it was given, and picks up at the interrupted turn, whose calls are
answered by the rules of `_replay.decide`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ._call import ToolCall, ToolResult
from ._durable import RunLog, held_calls
from ._events import CallFinished
from ._executor import Executor
from ._messages import Message, ModelTurn, UserPrompt
from ._plan import Expansion, Plans
from ._replay import OpenTurn, decide, replay
from ._result import RunResult
from ._stats import RunStats, TurnStats, call_timeline
from ._tool import Tool
from ._toolbox import Toolbox
from ._turn import Emit, PlayedTurn
from .journal import Journal, RunExists, RunNotFound
from .journal._codec import ApprovalRecord

__all__ = [
    "Opened",
    "finish_open_turn",
    "open_fresh",
    "open_resumed",
    "paused_result",
    "recorded_result",
]


@dataclass
class Opened:
    """A run ready for its next turn."""

    log: RunLog
    prompt: str
    messages: list[Message]
    turns: list[TurnStats]
    index: int
    """The next turn's index (the open turn's, when resuming one)."""
    open: OpenTurn | None
    approvals: dict[str, bool]
    toolbox: Toolbox


async def open_fresh(
    journal: Journal | None,
    run_id: str,
    prompt: str,
    history: list[Message],
    *,
    model: str,
    instructions: str | None,
    toolbox: Toolbox,
) -> Opened | RunResult:
    """A new run, recorded first; or, if `run_id` finished before, its recorded result."""
    for message in history:
        if getattr(message, "kind", None) not in ("user", "model", "tools"):
            raise TypeError(f"message_history holds {type(message).__name__}, not a Message")
    log = RunLog(journal, run_id)
    if journal is not None:
        try:
            await log.begin(
                prompt, history, model=model, instructions=instructions, toolbox=toolbox
            )
        except RunExists as exc:
            if exc.info.status == "finished":
                return await recorded_result(journal, run_id)
            raise RunExists(
                exc.info, f"it has not finished ({exc.info.status}): agent.resume({run_id!r})"
            ) from None
    return Opened(log, prompt, [*history, UserPrompt(prompt)], [], 1, None, {}, toolbox)


async def recorded_result(journal: Journal, run_id: str) -> RunResult:
    """The result of a run that finished, as its journal tells it."""
    run = replay(run_id, await journal.records(run_id))
    turns = tuple(run.turns)
    wall = turns[-1].ended_at - turns[0].started_at if turns else 0.0
    output = run.end.output if run.end is not None and run.end.output is not None else ""
    return RunResult(output, run.messages, RunStats(turns, wall), run_id)


async def open_resumed(
    journal: Journal, run_id: str, approvals: Mapping[str, bool], toolbox: Toolbox
) -> Opened | RunResult:
    """The run as its journal left it, held by this process; a finished run's result."""
    info = await journal.info(run_id)
    if info is None:
        raise RunNotFound(f"no run {run_id!r} in the journal {journal.url}")
    if info.status == "finished":
        return await recorded_result(journal, run_id)
    await journal.claim(run_id)
    try:
        run = replay(run_id, await journal.records(run_id))
        log = RunLog(journal, run_id)
        if approvals:
            asked = {c.id for c in run.open.message.calls} if run.open is not None else set()
            unknown = sorted(set(approvals) - asked)
            if unknown:
                raise ValueError(
                    f"approvals name calls that are not waiting in run {run_id!r}: {unknown}"
                    + (
                        f"; waiting: {run.open.paused.pending}"
                        if run.open and run.open.paused
                        else ""
                    )
                )
            assert run.open is not None
            for call_id, approved in approvals.items():
                record = ApprovalRecord(turn=run.open.index, call_id=call_id, approved=approved)
                await log.record(record, durable=True)
        decided = {**run.approvals, **approvals}
        last = run.messages[-1]
        if run.open is None and isinstance(last, ModelTurn) and not last.calls:
            await log.end(last.text)  # it had answered; only its end was not recorded
            return await recorded_result(journal, run_id)
    except BaseException:
        await journal.end(run_id, info.status, output=info.output, error=info.error)
        raise
    return Opened(
        log, run.header.prompt, run.messages, run.turns, run.next_index, run.open, decided,
        toolbox,
    )  # fmt: skip


async def finish_open_turn(
    opened: Opened,
    executor: Executor,
    needs_approval: Callable[[ToolCall, Tool[..., Any]], bool],
    clock: Callable[[], float],
    emit: Emit | None,
    plans: Plans | None = None,
) -> PlayedTurn:
    """Answer every call of the interrupted turn: recorded, unknown, denied, or run now.

    A plan is answered step by step, by the same rules: steps that finished are not run again,
    and a step resumed now takes the recorded results of the steps it refers to.
    """
    open_turn = opened.open
    assert open_turn is not None
    log = opened.log
    calls = open_turn.message.calls
    expansions = [plans.expand(c) if plans is not None else Expansion(c, (c,)) for c in calls]
    ran = [step for expansion in expansions for step in expansion.calls]
    decisions = decide(open_turn, executor.toolbox, opened.approvals, needs_approval, ran)
    pending, waiting = held_calls(calls, executor.toolbox, set(decisions.pending))
    to_run = {c.id for c in decisions.run}
    of = {e.call.id: e for e in expansions}
    waiting = [w for w in waiting if any(i in to_run for i in of[w].ids)]
    held = {*pending, *waiting}
    skipped = {i for e in expansions if e.call.id in held for i in e.ids}
    log.start_attempt(open_turn.index, open_turn.attempt)
    started = clock()

    def on_result(result: ToolResult) -> None:
        log.finished(result)
        if emit is not None:
            emit(CallFinished(open_turn.index, result))

    batch = executor.batch(on_result=on_result, before_start=log.before_start)
    by_id = {call.id: call for call in ran}
    for expansion in expansions:
        for step, refused in expansion.answered:
            if step.id not in skipped:
                batch.answer(step, refused, tell=step.id not in open_turn.results)
    for call_id, result in decisions.answered.items():
        if call_id not in skipped:
            batch.answer(by_id[call_id], result, tell=call_id not in open_turn.results)
    batch.submit_many([c for c in decisions.run if c.id not in skipped])
    answers = {r.call_id: r for r in await batch.close()}
    results: list[ToolResult] = []
    for expansion in expansions:
        if expansion.call.id in held:
            continue
        results.append(plans.fold(expansion, answers) if plans else answers[expansion.call.id])
        if expansion.is_plan:
            log.finished(results[-1])
    stats = TurnStats(
        index=open_turn.index,
        calls=sum(len(e.ids) for e in expansions),  # a plan: its steps
        started_at=started,
        message_ended_at=started,
        ended_at=clock(),
        input_tokens=open_turn.message.usage.input_tokens,
        output_tokens=open_turn.message.usage.output_tokens,
        batch=batch.stats,
        timeline=call_timeline(
            [answers[i] for e in expansions if e.call.id not in held for i in e.ids],
            {},
            default=started,
        ),
    )
    return PlayedTurn(open_turn.message, tuple(results), stats, tuple(pending), tuple(waiting))


def paused_result(
    log: RunLog, played: PlayedTurn, messages: list[Message], stats: RunStats
) -> RunResult:
    """The result of a run that waits for approvals (its transcript ends before the turn)."""
    by_id = {call.id: call for call in played.message.calls}
    pending = tuple(by_id[call_id] for call_id in played.pending)
    log.waiting = played.waiting
    return RunResult("", messages, stats, log.run_id, "paused", pending)
