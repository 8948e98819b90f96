"""`volley runs`: a journal's runs, listed, shown as the journal tells them, and resumed.

`list` and `show` only read: a SQLite file that is missing, or that is not a volley journal, is
refused before anything is opened (opening a journal makes its tables). `show` reads a run back
as a resume would, and says for each call of an interrupted turn what a resume will do with it:
use its recorded result, run it again, tell the model its outcome is unknown, or wait for a
person's approval. `resume` goes on with a run, with the model and tools `volley run` takes.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sqlite3
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .._agent import Agent, RunError
from .._call import ToolCall, ToolResult
from .._errors import ConfigurationError
from .._events import RunEvent, TextDelta
from .._messages import Message, ModelTurn, ToolReturns, UserPrompt
from .._replay import Replay, replay
from .._result import RunResult
from .._stats import RunStats
from ..journal import (
    Journal,
    JournalError,
    RunInfo,
    RunNotFound,
    SQLiteJournal,
    open_journal,
)
from ..journal._base import lease_is_free
from ..providers import ProviderError
from ._common import CommandError, check_writable, positive_int
from ._run import _line, add_agent_arguments, figures, load_tools, mcp_servers, ray_backend

if TYPE_CHECKING:
    from ..trace import Trace

__all__ = ["add_parser"]

STATUSES = ("running", "paused", "finished", "failed")

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


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "runs",
        help="list, show and resume the runs recorded in a journal",
        description=(
            "The runs an agent with a journal recorded (Agent(..., journal=URL)): list them, "
            "show one as its journal tells it, resume one after a crash or a pause for approval."
        ),
    )
    actions = parser.add_subparsers(dest="runs_command", required=True, metavar="ACTION")

    listing = actions.add_parser("list", help="the most recently updated runs first")
    _journal_option(listing)
    listing.add_argument("--status", choices=STATUSES, help="only runs of this status")
    listing.add_argument(
        "--limit", type=positive_int, default=20, metavar="N", help="at most N runs (default 20)"
    )
    listing.add_argument("--json", action="store_true", help="print the runs as JSON on stdout")
    listing.set_defaults(handler=list_command)

    show = actions.add_parser(
        "show",
        help="a run as its journal tells it, and what a resume would do",
        description=(
            "Show RUN_ID's prompt, each turn's text and calls with their results, the calls of "
            "an interrupted turn and what resuming will do with each, pending approvals, the end."
        ),
    )
    _journal_option(show)
    show.add_argument("run_id", metavar="RUN_ID")
    show.add_argument("--json", action="store_true", help="print the run as JSON on stdout")
    show.add_argument(
        "--html",
        type=Path,
        metavar="OUT",
        help="also write the run's timeline as one self-contained HTML page (as volley trace)",
    )
    show.set_defaults(handler=show_command)

    resume = actions.add_parser(
        "resume",
        help="go on with a run: after a crash, a failure, or a pause for approval",
        description=(
            "Resume RUN_ID with the model and tools that `volley run` takes: calls that finished "
            "are not run again, a write that was interrupted is reported to the model as of "
            "unknown outcome, and --approve / --deny decide the calls waiting for a person."
        ),
    )
    _journal_option(resume)
    resume.add_argument("run_id", metavar="RUN_ID")
    add_agent_arguments(
        resume,
        model_required=False,
        model_help="provider:model, as for volley run (default: the model the run was recorded "
        "with, if it is such a string)",
    )
    resume.add_argument(
        "--approve",
        action="append",
        default=[],
        metavar="CALL_ID",
        help="run this call waiting for approval (repeatable)",
    )
    resume.add_argument(
        "--deny",
        action="append",
        default=[],
        metavar="CALL_ID",
        help="refuse this call waiting for approval: the model is told (repeatable)",
    )
    resume.set_defaults(handler=resume_command)


def _journal_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--journal",
        required=True,
        metavar="URL",
        help="sqlite:///runs.db (a relative path), sqlite:////abs/runs.db, or postgresql://...",
    )


# -- opening the journal ----------------------------------------------------------------------


def open_existing(url: str) -> Journal:
    """The journal at `url`, refused if it is plainly not one (checked without writing to it).

    Raises:
        CommandError: a bad URL, a memory journal, a missing file, a file that is not a SQLite
            database or a database without volley's tables.
    """
    if url in ("memory", "sqlite://:memory:", "sqlite:///:memory:"):
        raise CommandError(
            f"--journal {url}: a memory journal lives only in the process that made it; name "
            "a file (sqlite:///runs.db) or a database (postgresql://...)"
        )
    try:
        journal = open_journal(url)
    except ValueError as exc:
        raise CommandError(f"--journal: {exc}") from exc
    if isinstance(journal, SQLiteJournal):
        _check_sqlite(Path(journal.path), url)
    return journal


def _check_sqlite(path: Path, url: str) -> None:
    if not path.exists():
        raise CommandError(f"--journal {url}: no such file {path}")
    if path.is_dir():
        raise CommandError(f"--journal {url}: {path} is a folder, not a journal file")
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise CommandError(f"--journal {url}: {path} is not a SQLite database ({exc})") from exc
    if not {"volley_runs", "volley_records"} <= tables:
        raise CommandError(
            f"--journal {url}: {path} is a SQLite database but not a volley journal "
            "(it has no volley_runs and volley_records tables)"
        )


@contextlib.contextmanager
def _journal_errors(url: str) -> Iterator[None]:
    """Whatever reading the journal raises, as one `error:` line (exit status 2)."""
    try:
        yield
    except CommandError:
        raise
    except JournalError as exc:  # RunNotFound, JournalCorrupt, RunHeld, a failed commit
        raise CommandError(str(exc)) from exc
    except sqlite3.Error as exc:  # a table of another shape, a damaged file
        raise CommandError(f"the journal {url} cannot be read: {exc}") from exc
    except OSError as exc:
        raise CommandError(f"the journal {url} cannot be reached: {exc}") from exc
    except Exception as exc:  # a database driver's own error (PostgreSQL)
        if type(exc).__module__.partition(".")[0] in ("psycopg", "psycopg_pool"):
            raise CommandError(f"the journal {url}: {type(exc).__name__}: {exc}") from exc
        raise


def _when(seconds: float | None) -> str:
    if seconds is None:
        return ""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(seconds))


def _status(info: RunInfo) -> str:
    """The run's status, `interrupted` for a running run no live process holds (a crash)."""
    if info.status == "running" and lease_is_free(info.owner, info.lease_until, "", time.time()):
        return "interrupted"
    return info.status


def _short(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


STYLES = {
    "finished": "green",
    "paused": "yellow",
    "failed": "red",
    "interrupted": "red",
    "running": "cyan",
}


# -- list -------------------------------------------------------------------------------------


def list_command(args: argparse.Namespace, console: Console) -> int:
    journal = open_existing(args.journal)

    async def read() -> list[RunInfo]:
        async with journal:
            return await journal.runs(status=args.status, limit=args.limit)

    with _journal_errors(args.journal):
        infos = asyncio.run(read())
    if args.json:
        print(json.dumps([_info_json(info) for info in infos], indent=2))
        return 0
    if not infos:
        what = f"{args.status} runs" if args.status else "runs"
        console.print(f"no {what} in {escape(args.journal)}", highlight=False)
        return 0
    table = Table(title=f"runs in {escape(args.journal)}", title_justify="left")
    table.add_column("run", overflow="fold")
    table.add_column("status", no_wrap=True)
    table.add_column("records", justify="right", no_wrap=True)
    table.add_column("prompt")
    table.add_column("updated", no_wrap=True)
    for info in infos:
        status = _status(info)
        table.add_row(
            escape(info.run_id),
            f"[{STYLES.get(status, 'white')}]{status}[/]",
            str(info.records),
            escape(_short(info.prompt, 40)),
            _when(info.updated_at),
        )
    console.print(table)
    return 0


def _info_json(info: RunInfo) -> dict[str, Any]:
    return {
        "run_id": info.run_id,
        "status": info.status,
        "interrupted": _status(info) == "interrupted",
        "prompt": info.prompt,
        "records": info.records,
        "created_at": info.created_at,
        "updated_at": info.updated_at,
        "owner": info.owner,
        "lease_until": info.lease_until,
        "output": info.output,
        "error": info.error,
    }


# -- show -------------------------------------------------------------------------------------


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


def show_command(args: argparse.Namespace, console: Console) -> int:
    if args.html is not None:
        check_writable(args.html, "--html")
    journal = open_existing(args.journal)

    async def read() -> RunView:
        async with journal:
            return await read_run(journal, args.run_id)

    with _journal_errors(args.journal):
        view = asyncio.run(read())
    if args.html is not None:
        from ..trace import write_html

        try:
            write_html(run_trace(view, args.journal), args.html)
        except OSError as exc:
            raise CommandError(f"--html {args.html}: cannot write it: {exc.strerror}") from exc
    if args.json:
        print(json.dumps(view_json(view), indent=2, ensure_ascii=False))
    else:
        _print_view(console, view, args.journal)
    if args.html is not None:
        console.print(f"wrote {args.html}", highlight=False, soft_wrap=True)
    return 0


def _arguments_text(call: ToolCall) -> str:
    arguments = call.arguments
    return arguments if isinstance(arguments, str) else json.dumps(dict(arguments))


def _print_view(console: Console, view: RunView, url: str) -> None:
    info, header = view.info, view.run.header
    status = _status(info)
    console.print(
        f"[bold]run {escape(info.run_id)}[/]  [{STYLES.get(status, 'white')}]{status}[/]  "
        f"[dim]{escape(header.model)}, {info.records} records, started {_when(info.created_at)}, "
        f"updated {_when(info.updated_at)}[/]",
        highlight=False,
        soft_wrap=True,
    )
    if status == "running" and info.owner:
        console.print(f"[dim]held by {escape(info.owner)} until {_when(info.lease_until)}[/]")
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
            console.print(f"  {escape(_short(turn.message.text, 300))}", highlight=False)
        for item in turn.calls:
            console.print(_call_line(item), highlight=False, soft_wrap=True)
            if item.resume is not None:
                console.print(f"      [dim]on resume: {RESUME[item.resume]}[/]", highlight=False)
    if view.pending:
        console.print()
        console.print("[bold yellow]waiting for approval:[/]")
        for call in view.pending:
            console.print(
                _pending_line(call),
                highlight=False,
                soft_wrap=True,
            )
        ids = " ".join(f"--approve {call.id}" for call in view.pending)
        console.print(
            f"[dim]decide with: volley runs resume {escape(info.run_id)} --journal {escape(url)} "
            f"{escape(ids)} (or --deny CALL_ID) --model ... --tools ...[/]",
            highlight=False,
            soft_wrap=True,
        )
    console.print()
    console.print(_end_line(view), highlight=False, soft_wrap=True)


def _pending_line(call: ToolCall) -> str:
    return f"  {escape(call.id)}  {escape(call.name)} {escape(_short(_arguments_text(call), 80))}"


def _call_line(item: CallView) -> str:
    call, result = item.call, item.result
    head = f"{escape(call.name)} {escape(_short(_arguments_text(call), 80))}"
    if result is not None:
        mark = "[red]✗" if result.is_error else "[green]✓"
        kind = f" ({result.error_kind})" if result.error_kind is not None else ""
        content = escape(_short(result.content, 100))
        return f"  {mark} {head}[/] [dim]{escape(call.id)}[/]{kind} → {content}"
    if item.state == "started":
        return f"  [yellow]… {head}[/] [dim]{escape(call.id)}[/] started, did not finish"
    return f"  [dim]○ {head} {escape(call.id)} not started[/]"


def _end_line(view: RunView) -> str:
    info, end = view.info, view.run.end
    status = _status(info)
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
        **_info_json(view.info),
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


# -- resume -----------------------------------------------------------------------------------


def resume_command(args: argparse.Namespace, console: Console) -> int:
    approvals: dict[str, bool] = dict.fromkeys(args.approve, True)
    both = sorted(set(args.approve) & set(args.deny))
    if both:
        raise CommandError(f"--approve and --deny both name {', '.join(both)}")
    approvals.update(dict.fromkeys(args.deny, False))
    journal = open_existing(args.journal)
    return asyncio.run(_resume(journal, args, approvals, console))


async def _resume(
    journal: Journal, args: argparse.Namespace, approvals: Mapping[str, bool], console: Console
) -> int:
    async with contextlib.AsyncExitStack() as stack:
        with _journal_errors(args.journal):
            await stack.enter_async_context(journal)
            view = await read_run(journal, args.run_id)
        header = view.run.header
        if view.info.status == "finished":
            console.print(f"run {escape(args.run_id)} had finished; nothing to resume")
            console.print(_end_line(view), highlight=False, soft_wrap=True)
            return 0
        servers = mcp_servers(args.mcp, args.mcp_http)
        toolbox = load_tools(args.tools)
        backend = ray_backend(args.ray, toolbox)
        if backend is not None:
            stack.callback(backend.close)
        model = args.model or header.model
        own_instructions = args.instructions is not None
        try:
            agent = Agent(
                model,
                [*toolbox, *servers],
                instructions=args.instructions if own_instructions else header.instructions,
                batching_hint=own_instructions,  # the recorded ones hold it already
                parallel=not args.one_call_per_turn,
                streaming=not args.no_streaming,
                max_turns=args.max_turns,
                observers=[_Printer(console)],
                journal=journal,
                backend=backend,
            )
        except ConfigurationError as exc:
            if args.model is None:
                raise CommandError(
                    f"the run was recorded with the model {header.model!r}, which cannot be "
                    f"made here ({exc}); name one with --model"
                ) from exc
            raise CommandError(str(exc)) from exc
        stack.push_async_callback(agent.aclose)
        missing = sorted(set(header.tools) - set(toolbox.names))
        if missing and not servers:
            Console(stderr=True).print(
                f"[yellow]note:[/] the run was recorded with tools that are not given now: "
                f"{escape(', '.join(missing))}; their calls will be answered as unknown tools",
                soft_wrap=True,
            )
        try:
            await agent.__aenter__()
            result = await agent.resume(args.run_id, approvals=approvals)
        except (ProviderError, RunError) as exc:
            console.print()
            raise CommandError(str(exc), status=1) from exc
        except ConnectionError as exc:  # an MCP server that cannot be started or reached
            raise CommandError(str(exc)) from exc
        except (JournalError, ValueError) as exc:  # held elsewhere; approvals of no such call
            raise CommandError(str(exc)) from exc
    console.print()
    if result.status == "paused":
        console.print("[bold yellow]paused: waiting for approval of[/]")
        for call in result.pending_approvals:
            console.print(
                _pending_line(call),
                highlight=False,
                soft_wrap=True,
            )
        console.print("[dim]decide with --approve CALL_ID or --deny CALL_ID[/]")
        return 0
    console.print(figures(result.stats))
    return 0


class _Printer:
    """Shows a resumed run's events as `volley run` shows them."""

    def __init__(self, console: Console) -> None:
        self.console = console

    def __call__(self, event: RunEvent) -> None:
        line = _line(event)
        if line is not None:
            end = "" if isinstance(event, TextDelta) else "\n"
            self.console.print(line, end=end, soft_wrap=True)
