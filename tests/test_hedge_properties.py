"""Properties of hedged calls, on virtual time, against an oracle written from the rules alone.

The rules: a call of a hedging tool whose first attempt has not answered after the delay gets a
second attempt, if its batch has a hedge left; the first attempt to answer well wins and the
other is cancelled at that moment; if one fails the other may still win; if both fail the call
fails when the last one does. A batch starts at most `max_hedges` hedges. A percentile delay
waits for twenty latencies of the tool; a first attempt counts with its duration, or, if its
hedge answered first, with the time it had run by then.

Durations are whole seconds and fixed delays end in .5, so no two events ever tie.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections import Counter
from dataclasses import dataclass
from typing import Any

import pytest
from _hyp import examples
from _vtime import REC, vrun
from hypothesis import given
from hypothesis import strategies as st

from volley import ConfigurationError, ErrorKind, Executor, Tool, ToolCall, ToolResult, tool
from volley._hedge import MIN_SAMPLES

Attempt = tuple[float, bool]
"""(seconds, fails) of one body."""

EPS = 1e-6


class Script:
    plan: dict[str, list[Attempt]] = {}  # noqa: RUF012
    started: Counter[str] = Counter()  # noqa: RUF012


async def play(name: str, tag: str) -> dict[str, Any]:
    attempt = Script.started[tag]
    Script.started[tag] += 1
    steps = Script.plan[tag]
    seconds, fails = steps[min(attempt, len(steps) - 1)]
    with REC.body(name, f"{tag}#{attempt}"):
        await asyncio.sleep(seconds)
    if fails:
        raise ValueError(f"{tag}: attempt {attempt} failed")
    return {"tag": tag, "attempt": attempt}


def family(hedge_after: float | str) -> list[Tool[..., Any]]:
    """A hedged read, a hedged idempotent write of one record, a plain read, a write barrier."""

    async def get(tag: str) -> dict[str, Any]:
        return await play("get", tag)

    async def put(tag: str, key: str) -> dict[str, Any]:
        return await play("put", tag)

    async def plain(tag: str) -> dict[str, Any]:
        return await play("plain", tag)

    async def wall(tag: str) -> dict[str, Any]:
        return await play("wall", tag)

    return [
        tool(get, effects="read", hedge_after=hedge_after, timeout=None),
        tool(
            put,
            writes=lambda a: [f"rec:{a['key']}"],
            idempotent=True,
            hedge_after=hedge_after,
            timeout=None,
        ),
        tool(plain, effects="read", timeout=None),
        tool(wall, effects="write", timeout=None),
    ]


HEDGED = ("get", "put")


@dataclass(frozen=True)
class Expected:
    """What a call's result must be, from its start."""

    seconds: float
    winner: int | None
    """The attempt whose value it returns, or `None` if it fails."""


def oracle(plan: list[Attempt], delay: float | None, hedged: bool) -> Expected:
    """The outcome of a call whose attempts take `plan`, hedged at `delay` or not at all."""
    d0, f0 = plan[0]
    if not hedged:
        return Expected(d0, None if f0 else 0)
    assert delay is not None
    d1, f1 = plan[1]
    answers = [(t, k) for t, k, fails in ((d0, 0, f0), (delay + d1, 1, f1)) if not fails]
    if answers:
        seconds, winner = min(answers)
        return Expected(seconds, winner)
    return Expected(max(d0, delay + d1), None)


def took(result: ToolResult) -> float:
    assert result.started_at is not None
    assert result.ended_at is not None
    return result.ended_at - result.started_at


def conflicts(a: ToolCall, b: ToolCall) -> bool:
    """Whether two calls conflict, from their tools' declarations."""
    if "wall" in (a.name, b.name):
        return True  # a write barrier excludes every declared call
    if a.name == b.name == "put":
        assert isinstance(a.arguments, dict)
        assert isinstance(b.arguments, dict)
        return bool(a.arguments["key"] == b.arguments["key"])
    return "put" in (a.name, b.name) and a.name != b.name  # a read of `*`, a write of a record


def intervals(tag: str) -> list[tuple[float, float]]:
    spans = [spans for key, spans in REC.intervals.items() if key.partition("#")[0] == tag]
    found = []
    for group in spans:
        for start, end in group:
            assert start is not None
            assert end is not None, f"an attempt of {tag} never ended"
            found.append((start, end))
    return found


# -- one batch, fixed delay ------------------------------------------------------------------------

attempts = st.tuples(st.integers(0, 8).map(float), st.integers(0, 3).map(lambda k: k == 0))


@st.composite
def batches(draw: Any) -> tuple[float, int, list[tuple[ToolCall, list[Attempt]]]]:
    delay = draw(st.sampled_from([0.5, 1.5, 2.5, 4.5]))
    max_hedges = draw(st.integers(0, 5))
    calls = []
    for i in range(draw(st.integers(1, 9))):
        name = draw(st.sampled_from(["get", "get", "get", "put", "plain", "wall"]))
        tag = f"c{i}"
        arguments = {"tag": tag} | ({"key": draw(st.sampled_from("ab"))} if name == "put" else {})
        plan = draw(st.lists(attempts, min_size=2, max_size=2))
        calls.append((ToolCall(tag, name, arguments), plan))
    return delay, max_hedges, calls


@given(batches())
@examples(800)
def test_a_hedged_call_answers_with_its_first_good_attempt_within_the_batch_cap(batch):
    delay, max_hedges, calls = batch
    Script.plan = {call.id: plan for call, plan in calls}
    Script.started = Counter()
    tools = family(delay)

    async def main() -> list[ToolResult]:
        async with Executor(tools, max_concurrency=1000, max_hedges=max_hedges) as ex:
            return await ex.run([call for call, _ in calls])

    results = vrun(main)

    # Exactly one result per call, in the order of the calls.
    assert [r.call_id for r in results] == [call.id for call, _ in calls]
    eligible = 0
    for (call, plan), result in zip(calls, results, strict=True):
        hedging = call.name in HEDGED
        slow = plan[0][0] > delay
        eligible += hedging and slow
        assert result.hedges in ((0, 1) if hedging and slow else (0,))
        assert result.attempts == 1 + result.hedges
        expected = oracle(plan, delay, result.hedges == 1)
        assert took(result) == pytest.approx(expected.seconds, abs=EPS)
        if result.hedges:  # no later than the first attempt, nor the hedge started at the delay
            d0, d1 = plan[0][0], plan[1][0]
            if not plan[0][1]:
                assert took(result) <= d0 + EPS
            if not plan[1][1]:
                assert took(result) <= delay + d1 + EPS
        if expected.winner is None:
            assert result.error_kind == ErrorKind.EXCEPTION
        else:
            assert result.error_kind is None
            assert result.value == {"tag": call.id, "attempt": expected.winner}
        # Every attempt ran within the call; one still going when the call answered (the
        # loser) was cancelled at that moment.
        spans = intervals(call.id)
        assert len(spans) == result.attempts
        assert result.started_at is not None
        assert result.ended_at is not None
        for k, (start, end) in enumerate(sorted(spans)):
            assert start >= result.started_at - EPS
            assert end <= result.ended_at + EPS
            natural = start + plan[k][0]
            assert end == pytest.approx(min(natural, result.ended_at), abs=EPS)
    # The batch spent its hedges on the calls that needed one, up to its cap.
    assert sum(r.hedges for r in results) == min(max_hedges, eligible)
    # Conflicting calls never overlap, losing attempts included, and keep the model's order.
    for i, (a, _) in enumerate(calls):
        for b, _ in calls[i + 1 :]:
            if conflicts(a, b):
                last_end = max(end for _, end in intervals(a.id))
                assert last_end <= min(start for start, _ in intervals(b.id)) + EPS
    assert REC.running["(all)"] == 0


# -- percentiles: no hedge before twenty latencies, then at the percentile of them -----------------


def nearest_rank(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q / 100 * len(ordered))) - 1]


@given(
    st.sampled_from([50, 75, 90, 95, 97.5]),
    st.lists(
        st.tuples(st.integers(1, 12), st.integers(0, 6), st.integers(0, 5).map(lambda k: k == 0)),
        min_size=MIN_SAMPLES // 2,
        max_size=45,
    ),
)
@examples(300)
def test_a_percentile_waits_for_latencies_then_hedges_the_calls_slower_than_it(q, steps):
    # First attempts are whole seconds plus the call's own thousandths; hedges take whole
    # seconds and a half: no latency, delay or answer can tie with another.
    plans = [
        [(first + (i + 1) / 1000, fails), (hedge + 0.5, False)]
        for i, (first, hedge, fails) in enumerate(steps)
    ]
    Script.plan = {f"c{i}": plan for i, plan in enumerate(plans)}
    Script.started = Counter()
    (get, *_) = family(f"p{q:g}")

    async def main() -> list[ToolResult]:
        results = []
        async with Executor([get]) as ex:
            for i in range(len(plans)):  # one call per batch: the cap never decides
                results += await ex.run([ToolCall(f"c{i}", "get", {"tag": f"c{i}"})])
        return results

    results = vrun(main)
    samples: list[float] = []
    for i, (plan, result) in enumerate(zip(plans, results, strict=True)):
        delay = nearest_rank(samples, q) if len(samples) >= MIN_SAMPLES else None
        hedged = delay is not None and plan[0][0] > delay
        assert result.hedges == hedged, f"call {i}: {len(samples)} latencies, delay {delay}"
        expected = oracle(plan, delay, hedged)
        assert took(result) == pytest.approx(expected.seconds, abs=EPS)
        (d0, f0), (d1, _) = plan
        if not hedged:
            if not f0:
                samples.append(d0)
        elif expected.winner == 0:
            samples.append(d0)
        elif expected.winner == 1 and delay is not None and d0 > delay + d1:
            samples.append(delay + d1)  # cut short by its hedge: it took at least this
    assert get.latencies is not None
    assert len(get.latencies) == len(samples)
    if len(samples) >= MIN_SAMPLES:
        for p in (1, 50, 99):
            assert get.latencies.percentile(p) == pytest.approx(nearest_rank(samples, p))
    assert REC.running["(all)"] == 0


# -- cancelling ------------------------------------------------------------------------------------


@given(
    st.lists(st.lists(attempts, min_size=2, max_size=2), min_size=1, max_size=6),
    st.integers(0, 10).map(lambda k: k + 0.25),
    st.booleans(),
)
@examples(300)
def test_cancelling_stops_every_attempt_and_answers_every_call(plans, at, whole_run):
    delay = 1.5
    Script.plan = {f"c{i}": plan for i, plan in enumerate(plans)}
    Script.started = Counter()
    tools = family(delay)
    calls = [ToolCall(f"c{i}", "get", {"tag": f"c{i}"}) for i in range(len(plans))]

    async def main() -> tuple[list[ToolResult] | None, set[asyncio.Task[Any]]]:
        results = None
        async with Executor(tools, max_hedges=len(plans)) as ex:
            if whole_run:
                running = asyncio.ensure_future(ex.run(calls))
                await asyncio.sleep(at)
                running.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    results = await running
            else:
                batch = ex.batch()
                batch.submit_many(calls)
                await asyncio.sleep(at)
                batch.cancel()
                results = await batch.close()
        current = asyncio.current_task()
        return results, {task for task in asyncio.all_tasks() if task is not current}

    results, left = vrun(main)
    assert left == set()
    assert REC.running["(all)"] == 0
    for i, plan in enumerate(plans):
        hedged = plan[0][0] > delay
        expected = oracle(plan, delay, hedged)
        for _start, end in intervals(f"c{i}"):
            assert end <= min(at, expected.seconds) + EPS
        if results is None:
            continue
        result = results[i]
        assert result.call_id == f"c{i}"
        if expected.seconds < at:
            assert result.error_kind is not ErrorKind.CANCELLED
            assert result.hedges == hedged
        else:
            assert result.error_kind == ErrorKind.CANCELLED
    assert results is not None or whole_run


# -- definitions -----------------------------------------------------------------------------------

declarations = st.fixed_dictionaries(
    {
        "effects": st.sampled_from([None, "read", "write"]),
        "reads": st.sampled_from([None, ["rec:a"], "rec:a"]),
        "writes": st.sampled_from([None, ["rec:a"], "rec:b"]),
        "idempotent": st.booleans(),
    }
).filter(lambda d: not (d["effects"] == "read" and d["writes"] is not None))  # refused anyway
valid_delays = (
    st.floats(min_value=1e-6, max_value=1e6)
    | st.integers(1, 99).map(lambda n: f"p{n}")
    | st.tuples(st.integers(0, 99), st.integers(0, 9))
    .filter(lambda t: t != (0, 0))
    .map(lambda t: f"p{t[0]}.{t[1]}")
)


def may_write(options: dict[str, Any]) -> bool:
    """From the declaration table: what a tool may change, if anything."""
    if options["writes"] is not None:
        return True
    if options["reads"] is not None:
        return False  # keys it reads, and none it writes
    return options["effects"] != "read"  # a write barrier, or nothing declared: anything


@given(declarations, valid_delays)
@examples(300)
def test_only_a_tool_that_cannot_repeat_an_effect_may_hedge(options, after):
    async def get(tag: str) -> str:
        return tag

    if may_write(options) and not options["idempotent"]:
        with pytest.raises(ConfigurationError, match="repeating its side effects"):
            tool(get, hedge_after=after, **options)
    else:
        made = tool(get, hedge_after=after, **options)
        assert made.hedge_after == after


@given(st.floats(allow_nan=True, allow_infinity=True) | st.integers() | st.text(max_size=6))
@examples(300)
def test_a_delay_is_seconds_above_zero_or_a_percentile_strictly_between_0_and_100(after):
    async def get(tag: str) -> str:
        return tag

    if isinstance(after, str):
        number = after[1:]
        digits = number.replace(".", "", 1)
        ok = (
            after[:1] == "p"
            and digits.isascii()
            and digits.isdigit()
            and len(number.partition(".")[0]) in (1, 2)
            and len(number.partition(".")[2]) <= 1
            and not number.endswith(".")
            and 0 < float(number) < 100
        )
    else:
        ok = math.isfinite(after) and after > 0
    if ok:
        assert tool(get, effects="read", hedge_after=after, timeout=None).hedge_after == after
    else:
        with pytest.raises(ConfigurationError, match="hedge_after must be"):
            tool(get, effects="read", hedge_after=after, timeout=None)
