"""A run as its journal tells it, for the eye and for programs: views, lines, JSON, a trace.

`volley runs list` and `show` read a journal; what they print, and what `show --json` and
`show --trace` write, is made here from a `Replay`, so that the commands stay about reading
journals and resuming runs.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape

from .._call import ToolCall, ToolResult
from .._messages import Message, ModelTurn, ToolReturns, UserPrompt
from .._replay import Replay, replay
from .._result import RunResult
from .._stats import RunStats
from ..journal import Journal, RunInfo, RunNotFound
from ..journal._base import lease_is_free

if TYPE_CHECKING:
    from ..trace import Trace

__all__ = [
    "RESUME",
    "STYLES",
    "RunView",
    "end_line",
    "info_json",
    "print_pending",
    "print_view",
    "read_run",
    "run_trace",
    "short",
    "status_of",
    "view_json",
    "when",
]

RESUME = {
    "reuse": "its recorded result is used; it does not run again",
    "run_again": "started, did not finish; it only reads (or is idempotent): runs again",
    "outcome_unknown": "started, did not finish; it may write: not run again, the model is "
    "told its outcome is unknown",
    "awaits_approval": "waits for a person's approval (--approve / --deny)",
    "approved": "approved: runs on resume",
    "denied": "denied: the model is told it did not run",
    "held": "held behind a call waiting for approval: runs once that is decided",
    "run": "never started: runs on resume",
}
"""What a resume does with a call of the interrupted turn, by key (the `--json` value)."""


def when(seconds: float | None) -> str:
    if seconds is None:
        return ""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(seconds))


def status_of(info: RunInfo) -> str:
    """The run's status, `interrupted` for a running run no live process holds (a crash)."""
    if info.status == "running" and lease_is_free(info.owner, info.lease_until, "", time.time()):
        return "interrupted"
    return info.status


def short(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


STYLES = {
    "finished": "green",
    "paused": "yellow",
    "failed": "red",
    "interrupted": "red",
    "running": "cyan",
}


def info_json(info: RunInfo) -> dict[str, Any]:
    return {
        "run_id": info.run_id,
        "status": info.status,
        "interrupted": status_of(info) == "interrupted",
        "prompt": info.prompt,
        "records": info.records,
        "created_at": info.created_at,
        "updated_at": info.updated_at,
        "owner": info.owner,
        "lease_until": info.lease_until,
        "output": info.output,
        "error": info.error,
    }


@dataclass
class CallView:
    """One call of a turn, as the journal tells it."""

    call: ToolCall
    result: ToolResult | None
    state: str
    """`finished`, `started` (and not finished) or `not started`."""
    resume: str | None = None
    """A key of `RESUME` for a call of the interrupted turn, else `None`."""


@dataclass
class TurnView:
    index: int
    message: ModelTurn
    calls: list[CallView]
    ended: bool


@dataclass
class RunView:
    """A run read back: its row, its records replayed, its turns with their calls."""

    info: RunInfo
    run: Replay
    turns: list[TurnView] = field(default_factory=list)
    pending: list[ToolCall] = field(default_factory=list)


def run_view(info: RunInfo, run: Replay) -> RunView:
    """The turns of `run` (ended, then the interrupted one) and what a resume would do."""
    view = RunView(info, run)
    for message, results in _answered(_conversation(run)):
        by_id = {r.call_id: r for r in results}
        calls = [CallView(c, by_id.get(c.id), "finished") for c in message.calls]
        view.turns.append(TurnView(len(view.turns) + 1, message, calls, True))
    open_turn = run.open
    if open_turn is None:
        return view
    paused = open_turn.paused
    pending = set(paused.pending) if paused else set()
    waiting = set(paused.waiting) if paused else set()
    calls = []
    for call in open_turn.message.calls:
        recorded = open_turn.results.get(call.id)
        begun = open_turn.started.get(call.id)
        decision = run.approvals.get(call.id)
        if recorded is not None:
            calls.append(CallView(call, recorded, "finished", "reuse"))
        elif begun is not None:
            key = "outcome_unknown" if begun.writes else "run_again"
            calls.append(CallView(call, None, "started", key))
        elif decision is not None:
            calls.append(CallView(call, None, "not started", "approved" if decision else "denied"))
        elif call.id in pending:
            calls.append(CallView(call, None, "not started", "awaits_approval"))
            view.pending.append(call)
        elif call.id in waiting:
            calls.append(CallView(call, None, "not started", "held"))
        else:
            calls.append(CallView(call, None, "not started", "run"))
    view.turns.append(TurnView(open_turn.index, open_turn.message, calls, False))
    return view


def _conversation(run: Replay) -> list[Message]:
    """The run's own messages: after the history it continued and its prompt."""
    return run.messages[len(run.header.history) + 1 :]


def _answered(messages: Sequence[Message]) -> list[tuple[ModelTurn, tuple[ToolResult, ...]]]:
    answered: list[tuple[ModelTurn, tuple[ToolResult, ...]]] = []
    for message in messages:
        if isinstance(message, ModelTurn):
            answered.append((message, ()))
        elif isinstance(message, ToolReturns) and answered:
            answered[-1] = (answered[-1][0], message.results)
    return answered


async def read_run(journal: Journal, run_id: str) -> RunView:
    """The run `run_id` of `journal`, read back.

    Raises:
        JournalError: no such run (`RunNotFound`), or its records cannot be understood.
    """
    info = await journal.info(run_id)
    if info is None:
        raise RunNotFound(f"no run {run_id!r} in the journal {journal.url}")
    return run_view(info, replay(run_id, await journal.records(run_id)))


def _arguments_text(call: ToolCall) -> str:
    arguments = call.arguments
    return arguments if isinstance(arguments, str) else json.dumps(dict(arguments))


def print_view(console: Console, view: RunView, url: str) -> None:
    info, header = view.info, view.run.header
    status = status_of(info)
    console.print(
        f"[bold]run {escape(info.run_id)}[/]  [{STYLES.get(status, 'white')}]{status}[/]  "
        f"[dim]{escape(header.model)}, {info.records} records, started {when(info.created_at)}, "
        f"updated {when(info.updated_at)}[/]",
        highlight=False,
        soft_wrap=True,
    )
    if status == "running" and info.owner:
        console.print(f"[dim]held by {escape(info.owner)} until {when(info.lease_until)}[/]")
    if header.history:
        console.print(f"[dim]continues a conversation of {len(header.history)} messages[/]")
    console.print(f"[bold]prompt:[/] {escape(header.prompt)}", highlight=False, soft_wrap=True)
    for turn in view.turns:
        console.print()
        said = ""
        if not turn.ended:
            paused = view.run.open is not None and view.run.open.paused is not None
            why = "paused: calls wait for approval" if paused else "interrupted"
            said = f"  [yellow]({why}: not all of its calls ended)[/]"
        console.print(f"[bold]turn {turn.index}[/]{said}")
        if turn.message.text:
            console.print(f"  {escape(short(turn.message.text, 300))}", highlight=False)
        for item in turn.calls:
            console.print(_call_line(item), highlight=False, soft_wrap=True)
            if item.resume is not None:
                console.print(f"      [dim]on resume: {RESUME[item.resume]}[/]", highlight=False)
    if view.pending:
        console.print()
        console.print("[bold yellow]waiting for approval:[/]")
        print_pending(console, view.pending)
        ids = " ".join(f"--approve {call.id}" for call in view.pending)
        console.print(
            f"[dim]decide with: volley runs resume {escape(info.run_id)} --journal {escape(url)} "
            f"{escape(ids)} (or --deny CALL_ID) --model ... --tools ...[/]",
            highlight=False,
            soft_wrap=True,
        )
    console.print()
    console.print(end_line(view), highlight=False, soft_wrap=True)


def print_pending(console: Console, calls: Sequence[ToolCall]) -> None:
    """One line per call waiting for approval: its id, tool and arguments."""
    for call in calls:
        arguments = escape(short(_arguments_text(call), 80))
        line = f"  {escape(call.id)}  {escape(call.name)} {arguments}"
        console.print(line, highlight=False, soft_wrap=True)


def _call_line(item: CallView) -> str:
    call, result = item.call, item.result
    head = f"{escape(call.name)} {escape(short(_arguments_text(call), 80))}"
    if result is not None:
        mark = "[red]✗" if result.is_error else "[green]✓"
        kind = f" ({result.error_kind})" if result.error_kind is not None else ""
        content = escape(short(result.content, 100))
        return f"  {mark} {head}[/] [dim]{escape(call.id)}[/]{kind} → {content}"
    if item.state == "started":
        return f"  [yellow]… {head}[/] [dim]{escape(call.id)}[/] started, did not finish"
    return f"  [dim]○ {head} {escape(call.id)} not started[/]"


def end_line(view: RunView) -> str:
    info, end = view.info, view.run.end
    status = status_of(info)
    if info.status == "finished":
        output = end.output if end is not None and end.output is not None else info.output or ""
        return f"[green]finished:[/] {escape(output)}"
    if info.status == "paused":
        return "[yellow]paused[/]: resume with --approve / --deny for each call waiting"
    if info.status == "failed":
        return f"[red]failed:[/] {escape(info.error or '')} [dim](it can be resumed)[/]"
    if status == "interrupted":
        return "[red]interrupted[/]: its process stopped before it ended; it can be resumed"
    return "[cyan]running[/] in another process"


def _result_json(result: ToolResult | None) -> dict[str, Any] | None:
    if result is None:
        return None
    return {
        "content": result.content,
        "is_error": result.is_error,
        "error_kind": None if result.error_kind is None else str(result.error_kind),
        "started_at": result.started_at,
        "ended_at": result.ended_at,
        "attempts": result.attempts,
        "hedges": result.hedges,
    }


def _call_json(call: ToolCall) -> dict[str, Any]:
    arguments = call.arguments
    return {
        "id": call.id,
        "tool": call.name,
        "arguments": arguments if isinstance(arguments, str) else dict(arguments),
    }


def view_json(view: RunView) -> dict[str, Any]:
    """The run as plain JSON values (`volley runs show --json`)."""
    header, end = view.run.header, view.run.end
    return {
        **info_json(view.info),
        "model": header.model,
        "instructions": header.instructions,
        "tools": list(header.tools),
        "history": len(header.history),
        "turns": [
            {
                "index": turn.index,
                "ended": turn.ended,
                "text": turn.message.text,
                "calls": [
                    {
                        **_call_json(item.call),
                        "state": item.state,
                        "result": _result_json(item.result),
                        "resume": item.resume,
                    }
                    for item in turn.calls
                ],
            }
            for turn in view.turns
        ],
        "pending_approvals": [_call_json(call) for call in view.pending],
        "end": None
        if end is None
        else {"status": end.status, "output": end.output, "error": end.error},
    }


def run_trace(view: RunView, url: str) -> Trace:
    """The run's trace, drawn from its journal: the figures each `turn_ended` record holds.

    Times are the clock of the process that ran each turn (the loop's monotonic clock, shared by
    the processes of one machine). The interrupted turn, if any, is drawn unfinished, with the
    times of the calls that ended.
    """
    from ..trace import Trace, TraceCall, TraceTurn
    from ..trace._cap import CONTENT_LIMIT, cap, capped_arguments

    run, info = view.run, view.info
    turns = tuple(run.turns)
    wall = turns[-1].ended_at - turns[0].started_at if turns else 0.0
    output = run.end.output if run.end is not None and run.end.output is not None else ""
    result = RunResult(
        output, [UserPrompt(run.header.prompt), *_conversation(run)], RunStats(turns, wall)
    )
    meta = {
        "model": run.header.model,
        "prompt": run.header.prompt,
        "tools": list(run.header.tools),
        "run_id": info.run_id,
        "journal": url,
    }
    trace = Trace.from_result(result, meta)
    if info.status == "finished":
        return trace
    open_turn = next((t for t in view.turns if not t.ended), None)
    extra: tuple[TraceTurn, ...] = ()
    if open_turn is not None:
        times = [
            t
            for item in open_turn.calls
            if item.result is not None
            for t in (item.result.started_at, item.result.ended_at)
            if t is not None
        ]
        begin = min(times, default=turns[-1].ended_at if turns else 0.0)
        calls = tuple(
            TraceCall(
                turn=open_turn.index,
                id=item.call.id,
                name=item.call.name,
                arguments=capped_arguments(item.call.arguments, CONTENT_LIMIT),
                early=False,
                arguments_done=begin,
                started=item.result.started_at if item.result else None,
                ended=item.result.ended_at if item.result else None,
                is_error=item.result.is_error if item.result else False,
                error_kind=str(item.result.error_kind)
                if item.result and item.result.error_kind
                else None,
                content=cap(item.result.content, CONTENT_LIMIT) if item.result else "",
            )
            for item in open_turn.calls
        )
        text = cap(open_turn.message.text, CONTENT_LIMIT)
        extra = (TraceTurn(open_turn.index, calls, None, text),)
    return replace(
        trace, turns=trace.turns + extra, stats=None, output=None, error=info.error or None
    )
