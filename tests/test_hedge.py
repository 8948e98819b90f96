"""Hedged reads, case by case: definitions, timeouts and retries, limits, threads, cancellation,
and what the journal and the trace keep of a hedged call.

Async cases run on virtual time (`vrun`), so every time below is exact; sync tools run in real
threads, held by events rather than by sleeping.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from _trace_samples import META, Say, ScriptedModel
from _vtime import REC, vrun
from rich.console import Console
from tenacity import wait_none

from volley import (
    Agent,
    ConfigurationError,
    ErrorKind,
    Executor,
    ModelTurn,
    Tool,
    ToolCall,
    ToolResult,
    Usage,
    tool,
)
from volley._hedge import MIN_SAMPLES, WINDOW, HedgeBudget, LatencyWindow
from volley.journal import _codec as codec
from volley.providers import FunctionProvider, ModelRequest
from volley.trace import Trace, TraceRecorder, html, load_trace, timeline
from volley.trace import _otel_attributes as otel

# -- a read whose attempts play a script ----------------------------------------------------------


class Script:
    """Per tag, (seconds, error) for each attempt in the order they start; the last repeats."""

    plan: dict[str, list[tuple[float, type[BaseException] | None]]] = {}  # noqa: RUF012
    started: Counter[str] = Counter()  # noqa: RUF012

    @classmethod
    def set(cls, **plan: list[tuple[float, type[BaseException] | None]]) -> None:
        cls.plan, cls.started = plan, Counter()


async def play(tag: str) -> dict[str, Any]:
    attempt = Script.started[tag]
    Script.started[tag] += 1
    steps = Script.plan[tag]
    seconds, error = steps[min(attempt, len(steps) - 1)]
    with REC.body("get", f"{tag}#{attempt}"):
        await asyncio.sleep(seconds)
    if error is not None:
        raise error(f"{tag}: attempt {attempt} failed")
    return {"tag": tag, "attempt": attempt}


def make_get(**options: Any) -> Tool[..., Any]:
    async def get(tag: str) -> dict[str, Any]:
        """Read one record."""
        return await play(tag)

    return tool(get, **({"effects": "read"} | options))


def call(tag: str, name: str = "get") -> ToolCall:
    return ToolCall(tag, name, {"tag": tag})


def run(tools: list[Tool[..., Any]], calls: list[ToolCall], **executor: Any) -> list[ToolResult]:
    async def main() -> list[ToolResult]:
        async with Executor(tools, retry_wait=wait_none(), **executor) as ex:
            return await ex.run(calls)

    return vrun(main)


def took(result: ToolResult) -> float:
    assert result.started_at is not None
    assert result.ended_at is not None
    return result.ended_at - result.started_at


# -- defining a hedged tool -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "options",
    [
        {"effects": "read"},
        {"reads": ["record:a"]},
        {"reads": lambda a: [f"record:{a['tag']}"]},
        {"effects": "write", "idempotent": True},
        {"writes": ["record:a"], "idempotent": True},
        {"idempotent": True},
    ],
)
@pytest.mark.parametrize("after", [0.5, 2, "p95", "p50", "p99.9", "p1", "p0.5"])
def test_reads_and_idempotent_tools_may_hedge(options: dict[str, Any], after: Any) -> None:
    made = make_get(**({"effects": None} | options), hedge_after=after)
    assert made.hedge_after == after
    percentile = made.hedge_percentile
    assert (percentile is None) == isinstance(after, int | float)
    assert (made.latencies is None) == (percentile is None)


@pytest.mark.parametrize(
    "options",
    [{}, {"effects": "write"}, {"writes": ["record:a"]}, {"reads": ["a"], "writes": ["b"]}],
)
def test_a_tool_that_may_write_refuses_hedging_at_definition(options: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError) as error:
        make_get(**({"effects": None} | options), hedge_after=0.5)
    message = str(error.value)
    assert "\n" not in message
    assert "'get'" in message
    assert "repeating its side effects" in message
    assert "effects='read' or idempotent=True" in message


@pytest.mark.parametrize(
    "after",
    [0, -1, 0.0, float("nan"), float("inf"), True, "p0", "p100", "p", "95", "P95", "p95.55",
     "p 95", "p-5", "0.5", "", "p99.99", [1]],
)  # fmt: skip
def test_a_hedge_delay_that_is_neither_seconds_nor_a_percentile_is_refused(after: Any) -> None:
    with pytest.raises(ConfigurationError) as error:
        make_get(hedge_after=after)
    message = str(error.value)
    assert "\n" not in message
    assert "hedge_after must be seconds above 0 or a percentile" in message
    assert repr(after) in message


def test_a_fixed_delay_must_be_shorter_than_the_timeout() -> None:
    with pytest.raises(ConfigurationError, match=r"hedge_after \(2 s\) .* timeout \(2 s\)"):
        make_get(hedge_after=2, timeout=2)
    assert make_get(hedge_after=1.5, timeout=2).timeout == 2
    assert make_get(hedge_after="p99", timeout=0.1).hedge_percentile == 99  # not known yet


def test_every_way_of_making_a_tool_takes_the_option() -> None:
    async def get(tag: str) -> str:
        return tag

    schema = {"type": "object", "properties": {"tag": {"type": "string"}}}
    made = [
        tool(get, effects="read", hedge_after="p90"),
        tool(effects="read", hedge_after="p90")(get),
        Tool.from_function(get, effects="read", hedge_after="p90"),
        Tool.from_schema("get", "Read.", schema, get, effects="read", hedge_after="p90"),
    ]
    assert [t.hedge_percentile for t in made] == [90.0] * 4
    with pytest.raises(ConfigurationError):
        Tool.from_schema("put", "Write.", schema, get, effects="write", hedge_after="p90")


def test_the_executor_refuses_a_negative_cap() -> None:
    with pytest.raises(ConfigurationError, match="max_hedges must be >= 0"):
        Executor([], max_hedges=-1)


# -- the race -------------------------------------------------------------------------------------


def test_a_straggler_is_hedged_and_the_hedge_answers() -> None:
    Script.set(a=[(10, None), (1, None)], b=[(0.2, None)])
    get = make_get(hedge_after=0.5)
    slow, quick = run([get], [call("a"), call("b")])
    assert slow.value == {"tag": "a", "attempt": 1}
    assert took(slow) == pytest.approx(1.5)
    assert (slow.attempts, slow.hedges) == (2, 1)
    assert quick.value == {"tag": "b", "attempt": 0}
    assert (quick.attempts, quick.hedges) == (1, 0)
    # The first attempt was cancelled the moment the hedge answered.
    assert REC.intervals["a#0"] == [[0.0, 1.5]]
    assert REC.intervals["a#1"] == [[0.5, 1.5]]
    assert REC.running["(all)"] == 0


def test_the_first_attempt_still_wins_if_it_answers_before_its_hedge() -> None:
    Script.set(a=[(1, None), (5, None)])
    (result,) = run([make_get(hedge_after=0.5)], [call("a")])
    assert result.value == {"tag": "a", "attempt": 0}
    assert took(result) == 1
    assert (result.attempts, result.hedges) == (2, 1)
    assert REC.intervals["a#1"] == [[0.5, 1.0]]  # the hedge, cancelled


def test_a_failed_attempt_leaves_the_other_to_answer_and_two_failures_are_one_error() -> None:
    Script.set(
        a=[(2, ValueError), (3, None)],  # the first fails while the hedge runs: the hedge answers
        b=[(9, None), (1, ValueError)],  # the hedge fails: the first answers
        c=[(3, ValueError), (1, KeyError)],  # both fail: the result is the last failure
    )
    a, b, c = run([make_get(hedge_after=1)], [call("a"), call("b"), call("c")])
    assert (a.value, took(a)) == ({"tag": "a", "attempt": 1}, 4)
    assert (b.value, took(b)) == ({"tag": "b", "attempt": 0}, 9)
    assert c.is_error
    assert c.error_kind == ErrorKind.EXCEPTION
    assert took(c) == 3
    assert c.content == "get failed after 2 attempts: ValueError: c: attempt 0 failed"
    assert (c.attempts, c.hedges) == (2, 1)
    assert isinstance(c.exception, ValueError)


def test_each_attempt_keeps_its_own_timeout() -> None:
    Script.set(a=[(100, None), (1, None)], b=[(100, None)])
    a, b = run([make_get(hedge_after=1, timeout=3)], [call("a"), call("b")])
    assert (a.value, took(a)) == ({"tag": "a", "attempt": 1}, 2)
    assert b.error_kind == ErrorKind.TIMEOUT
    assert took(b) == 4  # the hedge started at 1 s and had its own 3 s
    assert b.content == "get did not finish within 3 s and was stopped after 2 attempts."
    assert (b.attempts, b.hedges) == (2, 1)


def test_retries_wrap_the_hedged_attempt() -> None:
    # Both bodies of the first attempt fail; the retry's first body is slow and gets a hedge.
    Script.set(a=[(2, ConnectionError), (2, ConnectionError), (5, None), (1, None)])
    (result,) = run([make_get(hedge_after=1, retries=1)], [call("a")])
    assert result.value == {"tag": "a", "attempt": 3}
    assert (result.attempts, result.hedges) == (4, 2)
    assert took(result) == 3 + 2  # 3 s for the failed pair, then 1 s of delay and 1 s of hedge


def test_no_more_hedges_per_batch_than_the_cap_and_a_cap_of_each_batch() -> None:
    Script.set(**{tag: [(10, None), (1, None)] for tag in "abcdef"})
    get = make_get(hedge_after=1)

    async def main() -> list[list[ToolResult]]:
        async with Executor([get], max_hedges=2) as ex:
            first = await ex.run([call(tag) for tag in "abc"])
            second = await ex.run([call(tag) for tag in "def"])
            return [first, second]

    for results in vrun(main):
        assert sum(r.hedges for r in results) == 2  # a new batch, a new budget
        assert sorted(took(r) for r in results) == [2, 2, 10]
    Script.set(a=[(10, None), (1, None)])
    (none,) = run([get], [call("a")], max_hedges=0)
    assert (none.hedges, took(none)) == (0, 10)


def test_a_hedge_takes_a_free_slot_of_the_limits_or_does_not_start() -> None:
    def hedges(tool: Tool[..., Any], tags: str, **executor: Any) -> list[int]:
        Script.set(**{tag: [(10, None), (1, None)] for tag in tags})
        return [r.hedges for r in run([tool], [call(tag) for tag in tags], **executor)]

    get = make_get(hedge_after=1)
    assert sorted(hedges(get, "ab", max_concurrency=3)) == [0, 1]  # one slot was spare
    assert REC.total_peak == 3
    assert hedges(get, "a", max_concurrency=1) == [0]
    # "a" and "b" find no spare slot ("c" waits for one); "c", started when they end, does.
    assert hedges(get, "abc", max_concurrency=2) == [0, 0, 1]
    limited = make_get(hedge_after=1, max_concurrency=2)
    assert hedges(limited, "ab") == [0, 0]  # the tool's own limit is full
    assert hedges(limited, "a") == [1]


def test_cancelling_a_hedged_call_stops_both_attempts() -> None:
    Script.set(a=[(10, None), (10, None)])
    get = make_get(hedge_after=1)

    async def main() -> ToolResult:
        async with Executor([get]) as ex:
            batch = ex.batch()
            batch.submit(call("a"))
            await asyncio.sleep(3)
            batch.cancel("a")
            (result,) = await batch.close()
            return result

    result = vrun(main)
    assert result.error_kind == ErrorKind.CANCELLED
    assert REC.intervals["a#0"] == [[0, 3]]
    assert REC.intervals["a#1"] == [[1, 3]]
    assert REC.running["(all)"] == 0


def test_cancelling_the_run_stops_both_attempts_and_leaves_no_task() -> None:
    Script.set(a=[(10, None), (10, None)])
    get = make_get(hedge_after=1)

    async def main() -> set[asyncio.Task[Any]]:
        async with Executor([get]) as ex:
            running = asyncio.ensure_future(ex.run([call("a")]))
            await asyncio.sleep(2)
            running.cancel()
            with pytest.raises(asyncio.CancelledError):
                await running
        return asyncio.all_tasks() - {asyncio.current_task()}

    assert vrun(main) == set()
    assert REC.intervals["a#0"] == [[0, 2]]
    assert REC.intervals["a#1"] == [[1, 2]]


# -- percentiles ----------------------------------------------------------------------------------


def test_the_latency_window_keeps_the_recent_ones_and_needs_enough_of_them() -> None:
    window = LatencyWindow()
    for k in range(MIN_SAMPLES - 1):
        window.add(float(k))
    assert window.percentile(50) is None
    window.add(19.0)
    assert window.percentile(50) == 9.0  # nearest rank: the 10th of 20
    assert window.percentile(95) == 18.0
    assert window.percentile(99.9) == 19.0
    for k in range(WINDOW):
        window.add(1000.0 + k)
    assert len(window) == WINDOW
    assert window.percentile(0.1) == 1000.0  # the first twenty are gone
    budget = HedgeBudget(1)
    assert (budget.take(), budget.take(), budget.left) == (True, False, 0)


def test_a_percentile_hedges_only_once_the_tool_has_enough_latencies() -> None:
    tags = [f"t{k}" for k in range(MIN_SAMPLES - 1)]
    Script.set(**{tag: [(1, None)] for tag in tags}, slow=[(10, None), (1, None)])
    get = make_get(hedge_after="p50")

    async def main() -> list[ToolResult]:
        async with Executor([get]) as ex:
            early = await ex.run([call("slow")])  # nothing known yet: no hedge
            for tag in tags:
                await ex.run([call(tag)])
            Script.started["slow"] = 0
            late = await ex.run([call("slow")])  # twenty latencies: hedged after 1 s
            return [*early, *late]

    early, late = vrun(main)
    assert (early.hedges, took(early)) == (0, 10)
    assert (late.hedges, took(late)) == (1, 2)
    assert get.latencies is not None
    assert len(get.latencies) == MIN_SAMPLES + 1
    # The first attempt cut short by its hedge counts with the 2 s it had run: the 20th of 21.
    assert get.latencies.percentile(95) == 2


# -- sync tools in threads ------------------------------------------------------------------------


def test_a_losing_attempt_in_a_thread_goes_on_and_holds_its_keys_until_it_returns() -> None:
    gate = threading.Event()
    order: list[str] = []
    lock = threading.Lock()

    def note(what: str) -> None:
        with lock:
            order.append(what)

    @tool(reads=lambda a: [f"rec:{a['key']}"], hedge_after=0.05)
    def peek(key: str) -> str:
        with lock:
            first = "peek-first" not in order
            order.append("peek-first" if first else "peek-hedge")
        if first:
            gate.wait(10)  # held until the write is waiting for it
            note("first returned")
        return "first" if first else "hedge"

    @tool(writes=lambda a: [f"rec:{a['key']}"])
    def put(key: str) -> str:
        note("put")
        return "put"

    async def main() -> tuple[ToolResult, ToolResult]:
        async with Executor([peek, put]) as ex:
            (read,) = await ex.run([ToolCall("r", "peek", {"key": "k"})])
            loop = asyncio.get_running_loop()
            loop.call_later(0.05, gate.set)
            (write,) = await ex.run([ToolCall("w", "put", {"key": "k"})])
            return read, write

    read, write = asyncio.run(main())
    assert read.value == "hedge"
    assert (read.attempts, read.hedges) == (2, 1)
    assert write.value == "put"
    # The write waited for the losing attempt's thread: a read never sees it half done.
    assert order == ["peek-first", "peek-hedge", "first returned", "put"]


# -- what the journal and the trace keep ----------------------------------------------------------


def test_the_journal_keeps_hedges_and_reads_records_without_them() -> None:
    hedged = ToolResult("c1", "get", "x", attempts=2, hedges=1, started_at=0.0, ended_at=1.0)
    record = codec.FinishedRecord(turn=1, result=codec.from_result(hedged))
    back = codec.decode(codec.encode(record), run_id="r", seq=1)
    assert isinstance(back, codec.FinishedRecord)
    assert codec.to_result(back.result) == hedged
    unhedged = codec.from_result(ToolResult("c2", "get", "y"))
    plain = codec.encode(codec.FinishedRecord(turn=1, result=unhedged))
    assert "hedges" not in plain  # as an older version wrote it, and can read it
    old = json.loads(plain)
    assert "hedges" not in old["result"]
    assert codec.to_result(codec.ResultData.model_validate(old["result"])).hedges == 0


def hedged_run(path: Path) -> Any:
    Script.set(h=[(5, None), (0.25, None)], q=[(0.1, None)])
    get = make_get(hedge_after=0.5)
    say = Say(
        "Reading both.",
        [(0.1, ToolCall("h", "get", {"tag": "h"})), (0.1, ToolCall("q", "get", {"tag": "q"}))],
        0.1,
        Usage(10, 5),
    )
    done = Say("Done.", [], 0.1, Usage(20, 2))
    recorder = TraceRecorder(path, META)

    async def main() -> Any:
        return await Agent(ScriptedModel([say, done]), [get], observers=[recorder]).run("go")

    try:
        return vrun(main)
    finally:
        recorder.close()


def test_a_hedged_call_is_traced_and_drawn_with_its_hedge(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    result = hedged_run(path)
    loaded = load_trace(path)
    assert dataclasses.replace(loaded, wall_start=None, started_at=None) == Trace.from_result(
        result, META
    )
    hedged, quick = loaded.turns[0].calls
    assert (hedged.attempts, hedged.hedges) == (2, 1)
    assert hedged.duration == pytest.approx(0.75)
    assert (quick.attempts, quick.hedges) == (1, 0)
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    calls = {line["id"]: line for line in lines if line["type"] == "call"}
    assert calls["h"]["hedges"] == 1
    assert "hedges" not in calls["q"]  # as before hedging existed
    console = Console(width=120, record=True, color_system=None)
    console.print(timeline(loaded))
    console.print(timeline(loaded, compact=True))
    text = console.export_text()
    assert text.count("(2 attempts, 1 hedge)") == 2
    page = html(loaded)
    assert "(2 attempts, 1 hedge)</tspan>" in page
    assert page.count("2 attempts, 1 hedge") == 3  # beside its name, in its tooltip and table


def test_a_trace_written_before_hedging_loads_with_no_hedges(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    hedged_run(path)
    lines = path.read_text().splitlines()
    old = []
    for line in lines:
        record = json.loads(line)
        record.pop("hedges", None)
        old.append(json.dumps(record))
    path.write_text("\n".join(old) + "\n")
    hedged, _ = load_trace(path).turns[0].calls
    assert (hedged.attempts, hedged.hedges) == (2, 0)


def test_the_span_of_a_hedged_call_says_how_many_hedges_it_had() -> None:
    naming = otel.Naming.of(None, "anthropic:claude", capture_content=False)
    hedged = ToolResult("c1", "get", "x", attempts=2, hedges=1)
    attributes = otel.tool(naming, "get", "c1", call("c1"), hedged, True, False, 0.0)
    assert attributes["volley.tool.call.attempts"] == 2
    assert attributes["volley.tool.call.hedges"] == 1
    plain = otel.tool(naming, "get", "c1", call("c1"), ToolResult("c1", "get", "x", attempts=1),
                      True, False, 0.0)  # fmt: skip
    assert "volley.tool.call.hedges" not in plain


def test_an_agent_passes_its_hedge_cap_to_every_turn() -> None:
    with pytest.raises(ConfigurationError, match="max_hedges must be >= 0"):
        Agent(FunctionProvider(lambda r: ModelTurn(text="x")), [], max_hedges=-1)
    attempts: list[str] = []

    @tool(effects="read", hedge_after=0.5)
    async def slow(n: int) -> int:
        """Slow the first time."""
        attempts.append(f"{n}")
        await asyncio.sleep(5 if attempts.count(f"{n}") == 1 else 0.1)
        return n

    calls = tuple(ToolCall(f"c{i}", "slow", {"n": i}) for i in range(3))

    def respond(request: ModelRequest) -> ModelTurn:
        if len(request.messages) == 1:
            return ModelTurn(calls=calls, stop="tool_calls")
        return ModelTurn(text="done")

    for cap, hedged in ((0, 0), (2, 2)):  # three slow calls; as many hedges as the cap allows
        attempts.clear()
        agent = Agent(FunctionProvider(respond), [slow], max_hedges=cap)
        result = vrun(lambda agent=agent: agent.run("go"))
        returns = result.messages[2].results
        assert sum(r.hedges for r in returns) == hedged
        assert len(attempts) == 3 + hedged
