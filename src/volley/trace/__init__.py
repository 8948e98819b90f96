"""Traces of agent runs: record them as JSON Lines, read them back, draw their timelines.

Record a run as it happens with a `TraceRecorder` observer, read the file with `load_trace` (or
build the same `Trace` from a `RunResult` with `Trace.from_result`), then draw it: `timeline`
for the terminal (a rich renderable: a Gantt per turn, or with `compact=True` the whole run on one
axis, one line per call), `html`/`write_html` for one self-contained page.

Example:
    ```python
    with TraceRecorder("run.jsonl", meta={"model": model, "prompt": prompt}) as recorder:
        result = await Agent(model, tools, observers=[recorder]).run(prompt)
    rich.print(timeline(load_trace("run.jsonl")))
    write_html(load_trace("run.jsonl"), "run.html")
    ```
"""

from ._cap import CONTENT_LIMIT as CONTENT_LIMIT
from ._format import FORMAT_VERSION as FORMAT_VERSION
from ._format import TraceError as TraceError
from ._html import html as html
from ._html import write_html as write_html
from ._load import load_trace as load_trace
from ._model import Trace as Trace
from ._model import TraceCall as TraceCall
from ._model import TraceTurn as TraceTurn
from ._record import TraceRecorder as TraceRecorder
from ._terminal import Timeline as Timeline
from ._terminal import TimelineLegend as TimelineLegend
from ._terminal import timeline as timeline
from ._terminal import timeline_legend as timeline_legend

__all__ = [
    "CONTENT_LIMIT",
    "FORMAT_VERSION",
    "Timeline",
    "TimelineLegend",
    "Trace",
    "TraceCall",
    "TraceError",
    "TraceRecorder",
    "TraceTurn",
    "html",
    "load_trace",
    "timeline",
    "timeline_legend",
    "write_html",
]
