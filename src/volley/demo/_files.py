"""The demo's files: ten short notes in a temporary folder, read by the `read_file` tool.

Reading local files is fast, so parallel calls save little tool time here: what they save is
model round trips, which is the seeds' point about reading ten files one per turn. Reads are
counted, so the demo can show (and its test can check) that the tool really read them.
"""

from __future__ import annotations

import threading
from pathlib import Path

__all__ = ["NOTES", "NoteFolder"]

NOTES: dict[str, str] = {
    "notes/01-standup.md": "Standup: the importer is green again; Ana pairs with Li on caching.",
    "notes/02-launch.md": "Launch: the deadline for the beta is Friday; docs freeze Wednesday.",
    "notes/03-hiring.md": "Hiring: two onsite interviews next week, one offer out.",
    "notes/04-retro.md": "Retro: flaky tests cost us a day; quarantine them, then fix.",
    "notes/05-budget.md": "Budget: the cloud bill is due by the 30th, a hard deadline.",
    "notes/06-design.md": "Design review: keep the public API small; one way to do each thing.",
    "notes/07-oncall.md": "On-call: two pages this week, both the same disk alert.",
    "notes/08-roadmap.md": "Roadmap: streaming first, then tracing, then a plugin API.",
    "notes/09-legal.md": "Legal: the license review must be done before the deadline in May.",
    "notes/10-offsite.md": "Offsite: Lisbon in June; bring laptops, not slides.",
}
"""Relative path -> text: three of them mention a deadline (02, 05, 09)."""


class NoteFolder:
    """The notes, written under `root`; reads stay inside it and are counted."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.reads = 0
        """Files read through `read`."""
        self._lock = threading.Lock()
        for relative, text in NOTES.items():
            path = self.root / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text + "\n", encoding="utf-8")

    def read(self, relative: str) -> str:
        """The text of a file under the root.

        Raises:
            PermissionError: the path leads outside the folder.
            FileNotFoundError: there is no such file.
        """
        path = (self.root / relative).resolve()
        if not path.is_relative_to(self.root):
            raise PermissionError(f"{relative}: outside the demo's folder")
        text = path.read_text(encoding="utf-8")
        with self._lock:
            self.reads += 1
        return text
