"""The offline demo a new user runs first (`volley demo`): the seeds' claims, reproduced.

A simulated model (volley's `SimServer`, reached through the official Anthropic SDK) asks for
real tools on loopback: an HTTP service with realistic latencies, a SQLite database and a folder
of files, all started by the demo and removed after it. Each scenario (weather and time in three
cities, five pages, ten files, and creating then updating one record) runs three ways: one call
per turn, parallel, and parallel with streaming dispatch. The demo prints round trips, calls per
turn, wall time, input tokens and speed-ups, a timeline of every run, and the final state of the
raced record under a naive `asyncio.gather` and under volley. `run_demo` returns all of it as
typed values (`DemoReport`).

Needs the `demo` extra (`sim` and `anthropic`) and `rich`; a real provider needs its own extra.

Example:
    ```python
    from rich.console import Console
    from volley.demo import run_demo

    report = asyncio.run(run_demo(Console()))
    assert report.race.volley_right and not report.race.naive_right
    ```
"""

try:
    import httpx2  # noqa: F401
    import rich  # noqa: F401
    import starlette  # noqa: F401
    import uvicorn  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(f"volley's demo needs {exc.name}: pip install 'volley-tools[demo]'") from exc

from ._models import PROVIDERS, DemoUnavailable
from ._report import (
    BackendUsage,
    CallRecord,
    DemoReport,
    NaiveCall,
    RaceReport,
    RunFigures,
    ScenarioReport,
    Way,
)
from ._run import DEFAULT_TIME_SCALE, run_demo
from ._store import RecordState

TEST_TIME_SCALE = 0.02
"""A time scale small enough for tests (about 2 s for the whole demo), large enough to keep the
latencies' order, so that the streamed runs still start calls while the model writes."""

__all__ = [
    "DEFAULT_TIME_SCALE",
    "PROVIDERS",
    "TEST_TIME_SCALE",
    "BackendUsage",
    "CallRecord",
    "DemoReport",
    "DemoUnavailable",
    "NaiveCall",
    "RaceReport",
    "RecordState",
    "RunFigures",
    "ScenarioReport",
    "Way",
    "run_demo",
]
