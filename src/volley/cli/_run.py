"""`volley run`: any module's tools, any provider, one prompt, shown as it happens."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import sys
import types
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape

from .._agent import Agent, RunError
from .._events import CallFinished, CallStarted, RunEvent, RunFinished, TextDelta, TurnRetried
from .._stats import RunStats
from .._tool import Tool, Toolbox
from ..providers import ProviderError

__all__ = ["add_parser", "load_tools"]


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "run",
        help="run a prompt with your tools against any provider",
        description=(
            "Run PROMPT with the @tools of one or more Python modules against a model, "
            "showing text, calls and figures as they happen."
        ),
    )
    parser.add_argument("prompt", help="what to ask the model")
    parser.add_argument(
        "--model",
        required=True,
        help="provider:model, e.g. anthropic:claude-sonnet-4-6, openai:gpt-5.4, "
        "gemini:gemini-3.1-pro, openai-compatible:<base_url>:<model>",
    )
    parser.add_argument(
        "--tools",
        action="append",
        default=[],
        metavar="MODULE",
        help="a module whose tools the model may call (repeatable): every `Tool` in it, or its "
        "TOOLS list or Toolbox; `module:name` picks one attribute",
    )
    parser.add_argument("--instructions", help="the system prompt")
    parser.add_argument("--trace", type=Path, metavar="FILE", help="record the run as JSON Lines")
    parser.add_argument("--max-turns", type=int, default=20)
    parser.add_argument(
        "--one-call-per-turn", action="store_true", help="ask the model for one call per turn"
    )
    parser.add_argument(
        "--no-streaming", action="store_true", help="wait for whole messages before running calls"
    )
    parser.set_defaults(handler=run_command)


def load_tools(specs: list[str]) -> Toolbox:
    """The tools named on the command line.

    Raises:
        SystemExit: a module cannot be imported or holds no tool (the message says which).
    """
    here = str(Path.cwd())
    if here not in sys.path:  # a module next to the user, as `python -m` would find it
        sys.path.insert(0, here)
    tools: list[Tool[..., Any]] = []
    for spec in specs:
        module_name, _, attribute = spec.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise SystemExit(f"error: cannot import tools module {module_name!r}: {exc}") from exc
        found = _tools_of(getattr(module, attribute) if attribute else module)
        if not found:
            raise SystemExit(
                f"error: {spec!r} holds no volley tool (decorate functions with @tool)"
            )
        tools.extend(found)
    return Toolbox(tools)


def _tools_of(holder: Any) -> list[Tool[..., Any]]:
    if isinstance(holder, Tool):
        return [holder]
    if isinstance(holder, Toolbox):
        return list(holder)
    if isinstance(holder, list | tuple):
        return [t for t in holder if isinstance(t, Tool)]
    listed = getattr(holder, "TOOLS", None)
    if listed is not None:
        return _tools_of(listed)
    if isinstance(holder, types.ModuleType):
        return [v for v in vars(holder).values() if isinstance(v, Tool)]
    return []


def run_command(args: argparse.Namespace, console: Console) -> int:
    toolbox = load_tools(args.tools)
    observers: list[Any] = []
    if args.trace is not None:
        from ..trace import TraceRecorder

        meta = {"model": args.model, "prompt": args.prompt, "tools": [t.name for t in toolbox]}
        observers.append(TraceRecorder(args.trace, meta=meta))
    try:
        agent = Agent(
            args.model,
            toolbox,
            instructions=args.instructions,
            parallel=not args.one_call_per_turn,
            streaming=not args.no_streaming,
            max_turns=args.max_turns,
            observers=observers,
        )
    except Exception as exc:  # a bad model string, a missing extra or API key
        console.print(f"[red]error:[/] {escape(str(exc))}")
        return 2
    try:
        stats = asyncio.run(_show(agent, args.prompt, console))
    except (ProviderError, RunError) as exc:
        console.print(f"\n[red]error:[/] {escape(str(exc))}")
        return 1
    except Exception as exc:  # the SDK's: no API key, no connection once its retries are spent
        console.print(f"\n[red]error:[/] {type(exc).__name__}: {escape(str(exc))}")
        return 1
    finally:
        for observer in observers:
            observer.close()
    console.print(figures(stats))
    if args.trace is not None:
        console.print(f"[dim]trace written to {args.trace}; see it with: volley trace {args.trace}")
    return 0


async def _show(agent: Agent, prompt: str, console: Console) -> RunStats:
    async with agent:
        return await _events(agent, prompt, console)


async def _events(agent: Agent, prompt: str, console: Console) -> RunStats:
    async for event in agent.run_stream(prompt):
        line = _line(event)
        if line is not None:
            console.print(line, end="" if isinstance(event, TextDelta) else "\n", soft_wrap=True)
        if isinstance(event, RunFinished):
            console.print()
            return event.result.stats
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
