"""The terminal progress bar of `AgentPool.run_many(..., progress=True)` (rich, on stderr)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

if TYPE_CHECKING:
    from ._pool import PoolEvent

__all__ = ["ProgressBar"]


class ProgressBar:
    """Runs done of all, failures, runs in flight, resumed runs; a line per worker death."""

    def __init__(self, total: int, console: Console | None = None) -> None:
        self._bar = Progress(
            TextColumn("agent runs"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[detail]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console or Console(stderr=True),
            transient=False,
        )
        self._task = self._bar.add_task("runs", total=total, detail="")
        self._bar.start()

    def __call__(self, event: PoolEvent) -> None:
        p = event.progress
        detail = f"{p.running} running"
        if p.failed:
            detail += f", {p.failed} failed"
        if p.resumed:
            detail += f", {p.resumed} resumed"
        self._bar.update(self._task, completed=p.done, detail=detail)
        if event.kind == "worker_died":
            self._bar.console.print(
                f"worker {event.worker} died holding {len(event.lost)} runs; replacing it"
            )

    def stop(self) -> None:
        self._bar.stop()
