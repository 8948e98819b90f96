"""The live view while the demo runs, fed by the `Agent`'s observers.

A run of the simulated model takes seconds; showing each call start and finish as it happens
(and which ones started while the model was still writing) makes the difference between the
three ways visible before the tables say it. The view is transient: once a scenario is done,
its section is printed for good and the live view starts over.

Rich redraws the view from its own thread, while observers change it from the event loop, so
every change and every redraw holds one lock.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import TracebackType

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.markup import escape
from rich.spinner import Spinner
from rich.table import Table
from rich.text import Text

from .. import CallFinished, CallStarted, RunEvent, TurnFinished, TurnRetried
from ._report import RunFigures, Way

__all__ = ["LiveProgress", "argument_summary"]


@dataclass(slots=True)
class _Row:
    name: str
    summary: str
    early: bool
    duration: float | None = None
    error: bool = False


class LiveProgress:
    """What is running now; a no-op display (still observing) when `enabled` is false."""

    def __init__(self, console: Console, *, enabled: bool) -> None:
        self._console = console
        self._live = Live(self, console=console, transient=True, refresh_per_second=12)
        self._enabled = enabled
        self._lock = threading.Lock()
        self._header = ""
        self._done: list[str] = []
        self._way: Way | None = None
        self._turn = 1
        self._since = time.monotonic()
        self._rows: dict[str, _Row] = {}

    def __enter__(self) -> LiveProgress:
        if self._enabled:
            self._live.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._enabled:
            self._live.stop()

    def scenario(self, index: int, total: int, title: str) -> None:
        """A new scenario begins: forget the last one's lines."""
        with self._lock:
            self._header = f"[bold]Scenario {index}/{total}[/] · {escape(title)}"
            self._done = []
            self._way = None

    def run(self, way: Way) -> Callable[[RunEvent], None]:
        """A run begins; the returned observer feeds its events to the view."""
        with self._lock:
            self._way, self._turn, self._rows = way, 1, {}
            self._since = time.monotonic()
        return self._observe

    def finished(self, run: RunFigures) -> None:
        """A run ended: keep one line of it until the scenario ends."""
        with self._lock:
            self._done.append(
                f"[green]✓[/] {run.way.label:<22} {run.round_trips:>2} round trips  "
                f"{run.wall_time:6.2f} s"
            )
            self._way = None

    def _observe(self, event: RunEvent) -> None:
        with self._lock:
            if isinstance(event, CallStarted):
                if event.turn != self._turn:
                    self._turn, self._rows = event.turn, {}
                summary = argument_summary(event.call.arguments)
                self._rows[event.call.id] = _Row(event.call.name, summary, event.early)
            elif isinstance(event, CallFinished):
                row = self._rows.get(event.result.call_id)
                if row is not None:
                    row.duration, row.error = event.result.duration, event.result.is_error
            elif isinstance(event, TurnRetried):
                self._rows = {}
            elif isinstance(event, TurnFinished):
                self._turn = event.turn + 1
                self._rows = {}

    def __rich__(self) -> RenderableType:
        with self._lock:
            parts: list[RenderableType] = [Text.from_markup(self._header)]
            parts += [Text.from_markup("  " + line) for line in self._done]
            if self._way is not None:
                elapsed = time.monotonic() - self._since
                status = f"{self._way.label:<22} turn {self._turn} · {elapsed:5.2f} s"
                parts.append(Spinner("dots", Text(status), style="cyan"))
                parts.append(self._calls())
            return Group(*parts)

    def _calls(self) -> Table:
        table = Table.grid(padding=(0, 1))
        for _ in range(6):
            table.add_column()
        for row in self._rows.values():
            mark: RenderableType
            if row.duration is None:
                mark, took = Spinner("dots", style="yellow"), Text("running", style="yellow")
            else:
                mark = Text("✗" if row.error else "✓", style="red" if row.error else "green")
                took = Text(f"{row.duration:.2f} s", style="dim")
            early = Text("started early" if row.early else "", style="magenta")
            table.add_row("   ", mark, row.name, Text(row.summary, style="dim"), took, early)
        return table


def argument_summary(arguments: object, limit: int = 36) -> str:
    """A call's arguments in a few characters: its values, a URL by its last part."""
    if not isinstance(arguments, Mapping):
        return ""
    values = [str(v).rstrip("/").rsplit("/", 1)[-1] for v in arguments.values()]
    text = ", ".join(values)
    return text if len(text) <= limit else text[: limit - 1] + "…"
