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
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .._agent import Agent, RunError
from .._errors import ConfigurationError
from .._events import RunEvent, TextDelta
from ..journal import (
    Journal,
    JournalError,
    RunInfo,
    SQLiteJournal,
    open_journal,
)
from ..providers import ProviderError
from ._common import CommandError, check_writable, positive_int
from ._run import _line, add_agent_arguments, figures
from ._run_view import (
    STYLES,
    RunView,
    end_line,
    info_json,
    print_pending,
    print_view,
    read_run,
    run_trace,
    short,
    status_of,
    view_json,
    when,
)
from ._tools import load_tools, mcp_servers, ray_backend

if TYPE_CHECKING:
    pass

__all__ = ["add_parser"]

STATUSES = ("running", "paused", "finished", "failed")


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


# -- list -------------------------------------------------------------------------------------


def list_command(args: argparse.Namespace, console: Console) -> int:
    journal = open_existing(args.journal)

    async def read() -> list[RunInfo]:
        async with journal:
            return await journal.runs(status=args.status, limit=args.limit)

    with _journal_errors(args.journal):
        infos = asyncio.run(read())
    if args.json:
        print(json.dumps([info_json(info) for info in infos], indent=2))
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
        status = status_of(info)
        table.add_row(
            escape(info.run_id),
            f"[{STYLES.get(status, 'white')}]{status}[/]",
            str(info.records),
            escape(short(info.prompt, 40)),
            when(info.updated_at),
        )
    console.print(table)
    return 0


# -- show -------------------------------------------------------------------------------------


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
        print_view(console, view, args.journal)
    if args.html is not None:
        console.print(f"wrote {args.html}", highlight=False, soft_wrap=True)
    return 0


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
            console.print(end_line(view), highlight=False, soft_wrap=True)
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
        print_pending(console, result.pending_approvals)
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
