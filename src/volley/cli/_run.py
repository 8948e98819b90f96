"""`volley run`: any module's tools, any provider, one prompt, shown as it happens."""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape

from .._agent import Agent, RunError
from .._events import (
    CallFinished,
    CallProgress,
    CallStarted,
    RunEvent,
    RunFinished,
    TextDelta,
    TurnRetried,
)
from .._stats import RunStats
from .._toolbox import Toolbox
from ..providers import ProviderError
from ._common import CommandError, check_writable, positive_int
from ._tools import load_tools, mcp_servers, ray_backend

__all__ = ["add_agent_arguments", "add_parser", "load_tools", "mcp_servers", "ray_backend"]


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "run",
        help="run a prompt with your tools against any provider",
        description=(
            "Run PROMPT with the @tools of Python modules or files and the tools of MCP servers "
            "against a model, showing text, calls and figures as they happen."
        ),
    )
    parser.add_argument("prompt", help="what to ask the model")
    add_agent_arguments(parser)
    parser.add_argument("--trace", type=Path, metavar="FILE", help="record the run as JSON Lines")
    parser.add_argument(
        "--journal",
        metavar="URL",
        help="record the run so it can be resumed after a crash or a pause for approval "
        "(volley runs resume): sqlite:///runs.db or postgresql://...",
    )
    parser.add_argument(
        "--run-id", metavar="ID", help="the run's id in the journal (default: a new one)"
    )
    parser.set_defaults(handler=run_command)


def add_agent_arguments(
    parser: argparse.ArgumentParser, *, model_required: bool = True, model_help: str = ""
) -> None:
    """The options that make the agent: `volley run`'s, which `volley runs resume` takes too."""
    parser.add_argument(
        "--model",
        required=model_required,
        help=model_help
        or "provider:model, e.g. anthropic:claude-sonnet-4-6, openai:gpt-5.4, "
        "gemini:gemini-3.1-pro, openai-compatible:<base_url>:<model> (e.g. "
        "openai-compatible:http://localhost:11434/v1:llama3.1:8b; needs no API key)",
    )
    parser.add_argument(
        "--tools",
        action="append",
        default=[],
        metavar="MODULE|FILE.py",
        help="a module (my_pkg.tools) or file (./tools.py) whose tools the model may call "
        "(repeatable): every `Tool` in it, or its TOOLS list or Toolbox; `SOURCE:name` picks "
        "one attribute. Without tools or MCP servers, the model can only answer in text",
    )
    parser.add_argument(
        "--mcp",
        action="append",
        default=[],
        metavar='"COMMAND ARGS..."',
        help="an MCP server to start and speak to over stdio, as one quoted string split as a "
        'shell would (repeatable), e.g. --mcp "uvx mcp-server-time"; it gets a minimal '
        'environment (PATH, HOME...): pass more with --mcp "env KEY=value COMMAND..." '
        "(needs the mcp extra)",
    )
    parser.add_argument(
        "--mcp-http",
        action="append",
        default=[],
        metavar="URL",
        help="an MCP server to reach over Streamable HTTP (repeatable), e.g. "
        "http://127.0.0.1:8000/mcp (needs the mcp extra)",
    )
    parser.add_argument("--instructions", help="the system prompt")
    parser.add_argument(
        "--max-turns",
        type=positive_int,
        default=20,
        metavar="N",
        help="round trips before the run stops (default 20)",
    )
    parser.add_argument(
        "--one-call-per-turn", action="store_true", help="ask the model for one call per turn"
    )
    parser.add_argument(
        "--no-streaming", action="store_true", help="wait for whole messages before running calls"
    )
    parser.add_argument(
        "--plan",
        action="store_true",
        help="offer the model run_plan, to write a chain of dependent calls in one turn",
    )
    parser.add_argument(
        "--ray",
        metavar="ADDRESS",
        help="run the tool bodies on a Ray cluster (volley.ray.RayBackend): host:port, auto (the "
        "cluster running on this machine), or local (a Ray started for this run); the workers "
        "must be able to import the tools' modules (a --tools file is sent with its functions). "
        "Needs the ray extra",
    )


def run_command(args: argparse.Namespace, console: Console) -> int:
    servers = mcp_servers(args.mcp, args.mcp_http)
    toolbox = load_tools(args.tools)
    backend = ray_backend(args.ray, toolbox)
    try:
        return _run(args, console, servers, toolbox, backend)
    finally:
        if backend is not None:
            backend.close()


def _run(
    args: argparse.Namespace, console: Console, servers: list[Any], toolbox: Toolbox, backend: Any
) -> int:
    observers: list[Any] = []
    if args.trace is not None:
        from ..trace import TraceRecorder

        meta: dict[str, Any] = {
            "model": args.model,
            "prompt": args.prompt,
            "tools": [t.name for t in toolbox],
        }
        if servers:
            meta["mcp_servers"] = [server.name for server in servers]
        check_writable(args.trace, "--trace")
        try:
            observers.append(TraceRecorder(args.trace, meta=meta))
        except OSError as exc:
            raise CommandError(f"--trace {args.trace}: cannot write it: {exc.strerror}") from exc
    try:
        agent = Agent(
            args.model,
            [*toolbox, *servers],
            instructions=args.instructions,
            parallel=not args.one_call_per_turn,
            plan=args.plan,
            streaming=not args.no_streaming,
            max_turns=args.max_turns,
            observers=observers,
            journal=args.journal,
            backend=backend,
        )
    except BaseException as exc:  # a bad model string, a missing extra or key: no run, no trace
        for observer in observers:
            observer.close()
        if args.trace is not None:
            args.trace.unlink(missing_ok=True)
        if isinstance(exc, ValueError):  # ConfigurationError is one
            raise CommandError(str(exc)) from exc
        raise
    if not toolbox and not servers:
        Console(stderr=True).print(
            "[yellow]note:[/] no --tools: the model can only answer in text", soft_wrap=True
        )
    try:
        stats = asyncio.run(_show(agent, args.prompt, console, args.run_id))
    except _Unopened as exc:  # an MCP server that cannot be started or reached: no run
        for observer in observers:
            observer.close()
        observers.clear()
        if args.trace is not None:
            args.trace.unlink(missing_ok=True)
        raise CommandError(str(exc.__cause__)) from exc.__cause__
    except (ProviderError, RunError) as exc:
        console.print()  # end the line the model was writing
        raise CommandError(str(exc), status=1) from exc
    except Exception as exc:  # the SDK's own, an error its adapter does not map
        console.print()
        raise CommandError(f"{type(exc).__name__}: {exc}", status=1) from exc
    finally:
        for observer in observers:
            observer.close()
    console.print(figures(stats))
    if args.trace is not None:
        console.print(f"[dim]trace written to {args.trace}; see it with: volley trace {args.trace}")
    return 0


class _Unopened(Exception):
    """The agent's tool sources could not all be opened; the cause says why."""


async def _show(agent: Agent, prompt: str, console: Console, run_id: str | None) -> RunStats:
    """Open the agent (its MCP servers), show one run, close it whatever happens."""
    try:
        try:
            await agent.__aenter__()  # every server started or reached, or none kept open
        except ConnectionError as exc:  # volley.mcp.MCPConnectionError is one
            raise _Unopened from exc
        return await _events(agent, prompt, console, run_id)
    finally:
        await agent.aclose()


async def _events(agent: Agent, prompt: str, console: Console, run_id: str | None) -> RunStats:
    async for event in agent.run_stream(prompt, run_id=run_id):
        line = _line(event)
        if line is not None:
            console.print(line, end="" if isinstance(event, TextDelta) else "\n", soft_wrap=True)
        if isinstance(event, RunFinished):
            console.print()
            result = event.result
            if result.status == "paused":
                console.print(f"[bold yellow]paused[/] run {escape(result.run_id)}: waiting for")
                for call in result.pending_approvals:
                    console.print(f"  {escape(call.id)} {escape(call.name)}", highlight=False)
                console.print(
                    f"[dim]decide with: volley runs resume {escape(result.run_id)} --journal "
                    "URL --approve CALL_ID (or --deny CALL_ID)[/]",
                    soft_wrap=True,
                )
            elif agent.journal is not None:
                console.print(f"[dim]run {escape(result.run_id)} recorded[/]")
            return result.stats
    raise AssertionError("a run stream ends with RunFinished")


def _line(event: RunEvent) -> str | None:
    if isinstance(event, TextDelta):
        return escape(event.text)
    if isinstance(event, CallStarted):
        when = "while the model writes" if event.early else ""
        arguments = event.call.arguments
        shown = arguments if isinstance(arguments, str) else json.dumps(dict(arguments))
        return f"\n[cyan]→ {escape(event.call.name)}[/] {escape(_short(shown))} [dim]{when}[/]"
    if isinstance(event, CallFinished):
        r = event.result
        mark = "[red]✗" if r.is_error else "[green]✓"
        return f"{mark} {escape(r.name)}[/] [dim]{r.duration:.2f}s[/] {escape(_short(r.content))}"
    if isinstance(event, CallProgress):
        done = f"{event.progress:g}" + ("" if event.total is None else f"/{event.total:g}")
        said = "" if event.message is None else f" {escape(_short(event.message))}"
        return f"[dim]… {escape(event.name)} {done}{said}[/]"
    if isinstance(event, TurnRetried):
        return f"\n[yellow]stream broke, asking again: {escape(event.error)}[/]"
    return None


def _short(text: str, limit: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def figures(stats: RunStats) -> str:
    """One line of the run's figures, as `volley run` and the demo print them."""
    return (
        f"[bold]{stats.round_trips}[/] round trips, calls per turn {stats.calls_per_turn}, "
        f"{stats.wall_time:.2f}s wall, {stats.time_saved:.2f}s saved by parallel calls, "
        f"{stats.early_dispatch_saved:.2f}s by early dispatch, "
        f"{stats.input_tokens:,} input / {stats.output_tokens:,} output tokens"
    )
