"""The demo's scenarios: the seeds' examples, as a prompt and as a script for the simulated model.

Each scenario is the prompt a real model gets and the script the simulated one plays: its calls,
all in one turn, then an answer templated over their results (see `volley.sim`'s scenario
format). With `parallel=False` the simulator splits that turn into one call per turn by itself,
so one script serves all three ways of running, and the answers can be compared.

The latency model is a realistic one: 0.4 s to the first token, then 65 tokens per second, plus
a little time per input token (longer conversations take longer to read).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..sim import Scenario
from ._files import NOTES
from ._service import PAGES
from ._store import RecordState

__all__ = ["INSTRUCTIONS", "LATENCY", "DemoScenario", "RaceSpec", "scenarios"]

LATENCY = {"ttft": 0.4, "per_output_token": 1 / 65, "per_input_token": 0.00005}
"""Seconds, before the simulator's `time_scale`."""

INSTRUCTIONS = (
    "You are the assistant of volley's demo. Use the tools to answer, then reply in one or two "
    "short sentences."
)


@dataclass(frozen=True, slots=True)
class RaceSpec:
    """A scenario whose calls race on one record unless they run in the order written."""

    record_id: str
    expected: RecordState
    """The state the calls leave when run in order."""


@dataclass(frozen=True, slots=True)
class DemoScenario:
    """One scenario: what is asked, and what the simulated model does about it."""

    key: str
    title: str
    prompt: str
    preamble: str
    """What the simulated model says before its calls."""
    calls: tuple[tuple[str, dict[str, Any]], ...]
    """The simulated model's calls, in the order it writes them."""
    answer: str
    """The simulated model's answer, a template over the calls' results."""
    race: RaceSpec | None = None

    def script(self) -> Scenario:
        """The simulator's scenario: the calls in one turn, then the answer (or the errors)."""
        return Scenario.from_dict(
            {
                "latency": LATENCY,
                "turns": [
                    {
                        "text": self.preamble,
                        "calls": [{"name": n, "arguments": a} for n, a in self.calls],
                    },
                    {"when": "any_error", "text": "Some calls failed: {results}"},
                    {"text": self.answer},
                ],
            }
        )


def scenarios(base_url: str) -> tuple[DemoScenario, ...]:
    """The four scenarios, for the HTTP service at `base_url` (the pages' addresses need it)."""
    urls = [f"{base_url}/pages/{slug}" for slug in PAGES]
    race = RaceSpec("R-1042", RecordState("R-1042", "Order 1042: three books", "shipped"))
    return (
        DemoScenario(
            key="weather",
            title="Weather in Paris and Berlin, and the time in Tokyo",
            prompt="What's the weather in Paris and in Berlin, and what time is it in Tokyo?",
            preamble="Let me check.",
            calls=(
                ("get_weather", {"city": "Paris"}),
                ("get_weather", {"city": "Berlin"}),
                ("get_time", {"city": "Tokyo"}),
            ),
            answer="Paris: {result[0]}. Berlin: {result[1]}. In Tokyo it is {result[2]}.",
        ),
        DemoScenario(
            key="pages",
            title="Fetch 5 pages",
            prompt="Fetch these pages and tell me what each is about: " + " ".join(urls),
            preamble="I'll fetch all five.",
            calls=tuple(("fetch_page", {"url": url}) for url in urls),
            answer=(
                "They cover structured concurrency, deadlines, idempotent writes, retries with "
                "backoff and rate limits."
            ),
        ),
        DemoScenario(
            key="files",
            title="Read 10 files",
            prompt="Read these notes and tell me which mention a deadline: " + " ".join(NOTES),
            preamble="Reading the notes.",
            calls=tuple(("read_file", {"path": path}) for path in NOTES),
            answer="Of the {result_count} notes, 02 (launch), 05 (budget) and 09 (legal) do.",
        ),
        DemoScenario(
            key="race",
            title="Create a record, then update it",
            prompt=(
                f"Create record {race.record_id} titled {race.expected.title!r}, then set its "
                f"status to {race.expected.status!r}."
            ),
            preamble="Creating it and marking it shipped.",
            calls=(
                ("create_record", {"id": race.record_id, "title": race.expected.title}),
                ("update_record", {"id": race.record_id, "status": race.expected.status}),
            ),
            answer="Done: {result[0]}; then {result[1]}.",
            race=race,
        ),
    )
