"""What the demo measured, as plain typed values: what it prints, and what its test checks.

Keeping the figures apart from their display means the printed tables cannot say something the
data does not, and a test can check the claims (fewer round trips, the race's final state, calls
started early, every backend hit) without parsing terminal output.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from .. import RunResult
from ._store import RecordState

__all__ = [
    "BackendUsage",
    "CallRecord",
    "DemoReport",
    "NaiveCall",
    "RaceReport",
    "RunFigures",
    "ScenarioReport",
    "Way",
]


class Way(Enum):
    """How a scenario is run: each value is (label, `parallel`, `streaming`) for the `Agent`."""

    ONE_AT_A_TIME = ("one at a time", False, False)
    """One call per turn (`parallel=False`): what an agent does when nothing batches calls."""
    PARALLEL = ("parallel", True, False)
    """All of a turn's calls through volley, once the whole message has arrived."""
    STREAMING = ("parallel + streaming", True, True)
    """As `PARALLEL`, each call starting the moment the model has written it."""

    @property
    def label(self) -> str:
        """The name printed in tables."""
        return self.value[0]

    @property
    def parallel(self) -> bool:
        """`Agent(parallel=...)`."""
        return self.value[1]

    @property
    def streaming(self) -> bool:
        """`Agent(streaming=...)`."""
        return self.value[2]


@dataclass(frozen=True, slots=True)
class CallRecord:
    """One tool call of a run and its result, comparable across the ways of running."""

    name: str
    arguments: str
    """The arguments as canonical JSON."""
    content: str
    """The text the model read."""
    is_error: bool


@dataclass(frozen=True, slots=True)
class RunFigures:
    """One run of one scenario, one way."""

    way: Way
    round_trips: int
    calls_per_turn: tuple[int, ...]
    wall_time: float
    """Seconds from the prompt to the answer."""
    input_tokens: int
    output_tokens: int
    time_saved: float
    """Tool time saved against running each turn's calls one by one."""
    early_dispatch_saved: float
    """Seconds saved by starting calls while the model was still writing."""
    early_starts: int
    """Calls started before their message had ended."""
    output: str
    """The model's answer."""
    calls: tuple[CallRecord, ...]
    """Every call of the run, in the order the model asked for them."""
    result: RunResult
    """The whole run (transcript, per-turn figures and timelines), for the timeline view."""


@dataclass(frozen=True, slots=True)
class NaiveCall:
    """One call as the naive `asyncio.gather` ran it."""

    name: str
    outcome: str
    """What it returned, or the error it raised."""
    is_error: bool
    finished: int
    """1 for the call that finished first."""


@dataclass(frozen=True, slots=True)
class RaceReport:
    """The create-then-update race: the final state in SQLite after each way of running it."""

    record_id: str
    expected: RecordState
    """What running the calls in the order the model wrote them leaves."""
    batched: bool
    """Whether the model sent both calls in one turn (only then can a naive gather race)."""
    naive: RecordState | None
    """The state a naive `asyncio.gather` over the same calls left."""
    naive_calls: tuple[NaiveCall, ...]
    volley: Mapping[Way, RecordState | None]
    """The state each way of running through volley left."""

    @property
    def naive_right(self) -> bool:
        """Whether the naive gather left the expected state."""
        return self.naive == self.expected

    @property
    def volley_right(self) -> bool:
        """Whether every volley run left the expected state."""
        return all(state == self.expected for state in self.volley.values())


@dataclass(frozen=True, slots=True)
class ScenarioReport:
    """One scenario, run every way."""

    key: str
    title: str
    prompt: str
    runs: Mapping[Way, RunFigures]

    def speed_up(self, way: Way) -> float:
        """Wall time one call per turn over wall time this way (2.0: twice as fast)."""
        run = self.runs[way].wall_time
        return self.runs[Way.ONE_AT_A_TIME].wall_time / run if run > 0 else 0.0


@dataclass(frozen=True, slots=True)
class BackendUsage:
    """Proof that the tools did real I/O: what each backend served."""

    http_url: str
    http_requests: Mapping[str, int]
    """Requests the HTTP service answered, by endpoint."""
    files_read: int
    database_operations: int
    workdir: Path
    """The temporary folder of the database and the notes (deleted when the demo ends)."""


@dataclass(frozen=True, slots=True)
class DemoReport:
    """Everything the demo measured."""

    model: str
    """The model's name (`anthropic:claude-sim` for the simulated one)."""
    simulated: bool
    time_scale: float
    scenarios: tuple[ScenarioReport, ...]
    race: RaceReport
    backends: BackendUsage
    wall_time: float
    """Seconds the whole demo took."""

    def scenario(self, key: str) -> ScenarioReport:
        """The scenario with that key (`weather`, `pages`, `files`, `race`)."""
        for scenario in self.scenarios:
            if scenario.key == key:
                return scenario
        raise KeyError(key)
