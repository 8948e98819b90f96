"""The offline demo end to end: its figures back the claims it prints; it leaves nothing behind.

The demo runs once (module fixture) at the test time scale, printing into a wide console over a
StringIO; every test checks one claim on the returned report or on the printed text.
"""

import asyncio
import io
import json
import socket
import threading
import time
from urllib.parse import urlsplit

import pytest
from rich.console import Console

from volley import CallFinished, CallStarted, ToolCall, ToolResult
from volley.demo import (
    TEST_TIME_SCALE,
    DemoReport,
    DemoUnavailable,
    RecordState,
    Way,
    run_demo,
)
from volley.demo._progress import LiveProgress
from volley.demo._show import calls_per_turn

WIDTH = 120
CALLS = {"weather": 3, "pages": 5, "files": 10, "race": 2}


@pytest.fixture(scope="module")
def demo():
    threads_before = set(threading.enumerate())
    out = io.StringIO()
    console = Console(file=out, width=WIDTH, color_system=None)
    started = time.perf_counter()
    report = asyncio.run(run_demo(console, time_scale=TEST_TIME_SCALE))
    took = time.perf_counter() - started
    return report, out.getvalue(), took, threads_before


def test_parallel_takes_fewer_round_trips_in_every_scenario(demo):
    report: DemoReport = demo[0]
    assert [s.key for s in report.scenarios] == list(CALLS)
    for scenario in report.scenarios:
        n = CALLS[scenario.key]
        one = scenario.runs[Way.ONE_AT_A_TIME]
        assert one.calls_per_turn == (1,) * n + (0,)
        assert one.round_trips == n + 1
        for way in (Way.PARALLEL, Way.STREAMING):
            run = scenario.runs[way]
            assert run.calls_per_turn == (n, 0)
            assert run.round_trips == 2 < one.round_trips
            assert run.input_tokens < one.input_tokens
            assert run.wall_time > 0


def test_every_way_gives_the_same_answer_and_results(demo):
    report: DemoReport = demo[0]
    for scenario in report.scenarios:
        one = scenario.runs[Way.ONE_AT_A_TIME]
        assert len(one.calls) == CALLS[scenario.key]
        assert not any(call.is_error for call in one.calls)
        for way in (Way.PARALLEL, Way.STREAMING):
            assert scenario.runs[way].output == one.output
            assert scenario.runs[way].calls == one.calls
    weather = report.scenario("weather").runs[Way.STREAMING]
    assert [json.loads(c.arguments) for c in weather.calls] == [
        {"city": "Paris"},
        {"city": "Berlin"},
        {"city": "Tokyo"},
    ]
    assert "°C" in weather.output
    assert "(Asia/Tokyo)" in weather.output


def test_the_race_is_lost_by_naive_gather_and_won_by_volley(demo):
    race = demo[0].race
    expected = RecordState("R-1042", "Order 1042: three books", "shipped")
    assert race.expected == expected
    assert race.batched
    assert race.volley == dict.fromkeys(Way, expected)
    assert race.volley_right
    assert race.naive == RecordState("R-1042", "Order 1042: three books", "draft")
    assert not race.naive_right
    first, second = sorted(race.naive_calls, key=lambda c: c.finished)
    assert (first.name, first.is_error) == ("update_record", True)
    assert "no record R-1042" in first.outcome
    assert (second.name, second.is_error) == ("create_record", False)


def test_streaming_starts_reads_while_the_model_writes_and_writes_after(demo):
    report: DemoReport = demo[0]
    for scenario in report.scenarios:
        streamed = scenario.runs[Way.STREAMING]
        expected = 0 if scenario.key == "race" else CALLS[scenario.key]
        assert streamed.early_starts == expected
        assert scenario.runs[Way.PARALLEL].early_starts == 0
        assert scenario.runs[Way.ONE_AT_A_TIME].early_starts == 0
        assert streamed.result.turns[0].streamed
    # Both write record:R-1042: after the message has ended, and the create before the update.
    # (Read calls' start times are not compared with the message's end: at the test's time scale
    # the whole message can arrive in one read, so a call handed over early starts just after.)
    turn = report.scenario("race").runs[Way.STREAMING].result.turns[0]
    create, update = turn.timeline
    assert create.started is not None
    assert update.started is not None
    assert create.started >= turn.message_ended_at
    assert update.started >= create.ended


def test_every_backend_was_really_used(demo):
    used = demo[0].backends
    ways = len(Way)
    assert dict(used.http_requests) == {
        "weather": 2 * ways,
        "time": 1 * ways,
        "pages": 5 * ways,
        "validate": 1 * ways + 1,  # and once more for the naive gather
    }
    assert used.files_read == 10 * ways
    assert used.database_operations >= 4 * ways  # delete, insert, update, read back per way


def test_the_output_has_the_tables_the_race_and_the_timelines(demo):
    report, out = demo[0], demo[1]
    for header in ("round trips", "calls/turn", "wall", "input tokens", "early starts", "speed-up"):
        assert header in out
    for way in Way:
        assert way.label in out
    for scenario in report.scenarios:
        assert scenario.title in out
    assert "1\N{MULTIPLICATION SIGN}10, 0" in out  # the files, one per turn
    assert "naive asyncio.gather" in out
    assert "✗ wrong" in out
    assert out.count("✓ right") == len(Way)
    lines = out.splitlines()
    runs = len(report.scenarios) * len(Way)
    assert sum(line.startswith("model ") for line in lines) == runs  # a compact timeline each
    assert "Turn 1" not in out  # not a Gantt per turn
    for way in Way:
        heading = f"{way.label} · round trips "
        assert sum(line.startswith(heading) for line in lines) == len(report.scenarios)
    calls = sum(len(run.calls) for s in report.scenarios for run in s.runs.values())
    call_lines = [line.split() for line in lines if line[:2].strip().isdigit()]
    assert sum(len(words) > 1 and words[1] in TOOLS for words in call_lines) == calls
    assert out.count("arguments complete") == 1  # the legend, once
    assert out.index("arguments complete") < out.index("1. Weather")  # before the first run
    assert "Summary" in out
    assert max(len(line) for line in lines) <= WIDTH
    assert len(lines) < 200


TOOLS = {"get_weather", "get_time", "fetch_page", "read_file", "create_record", "update_record"}


def runs_drawn(out: str) -> dict[str, list[tuple[Way, list[str]]]]:
    """Each scenario's compact timelines, in order: the way and its lines (heading to axis)."""
    lines = out.splitlines()
    drawn: dict[str, list[tuple[Way, list[str]]]] = {}
    scenario = ""
    for k, line in enumerate(lines):
        if line[:2].rstrip(".").isdigit() and ". " in line[:4] and "─" in line:
            scenario = line
        for way in Way:
            if line.startswith(f"{way.label} · round trips "):
                axis = next(j for j in range(k, len(lines)) if "╵0" in lines[j])
                drawn.setdefault(scenario, []).append((way, lines[k : axis + 1]))
    return drawn


def test_the_three_ways_are_drawn_on_one_scale(demo):
    report, out = demo[0], demo[1]
    drawn = runs_drawn(out)
    assert len(drawn) == len(report.scenarios)
    for scenario, (title, runs) in zip(report.scenarios, drawn.items(), strict=True):
        assert scenario.title in title
        assert [way for way, _ in runs] == list(Way)  # right under each other
        assert len({lines[-1] for _, lines in runs}) == 1  # one axis: one scale
        origin = runs[0][1][-1].index("╵0")
        cells = WIDTH - origin - 9  # the duration column's 9
        until = max(run.wall_time for run in scenario.runs.values())
        ends = {}
        for way, lines in runs:
            _heading, model, *calls, _axis = lines
            assert model.startswith("model ")
            assert "▓" in model or way is not Way.ONE_AT_A_TIME  # its turns shaded apart
            assert len(calls) == len(scenario.runs[way].calls)  # one line per call
            assert all(line.split()[1] in TOOLS for line in calls)  # turn, tool, arguments
            ends[way] = max(k for k in range(origin, origin + cells) if model[k] != " ") + 1
            # The last turn ends the run: the model's lane ends where its wall time falls.
            expected = scenario.runs[way].wall_time / until
            assert abs((ends[way] - origin) / cells - expected) <= 2.5 / cells, (title, way)
        # Bars compare by length: the fastest way's are shorter by its speed-up (each end is
        # within a cell of its time, and the shorter one's cell is multiplied by the speed-up).
        one, best = (ends[way] - origin for way in (Way.ONE_AT_A_TIME, Way.STREAMING))
        speed_up = scenario.speed_up(Way.STREAMING)
        assert best * speed_up == pytest.approx(one, abs=speed_up + 1.5)


def test_nothing_is_left_behind(demo):
    report, threads_before = demo[0], demo[3]
    assert not report.backends.workdir.exists()
    url = urlsplit(report.backends.http_url)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((url.hostname, url.port), timeout=1).close()
    deadline = time.monotonic() + 2.0
    while (extra := set(threading.enumerate()) - threads_before) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not extra


def test_the_demo_reports_no_more_time_than_it_took(demo):
    took = demo[2]
    assert demo[0].wall_time <= took


def test_a_real_provider_needs_its_key(no_keys):
    console = Console(file=io.StringIO())
    with pytest.raises(DemoUnavailable, match=r"GEMINI_API_KEY or GOOGLE_API_KEY.*gemini-3"):
        asyncio.run(run_demo(console, provider="gemini"))
    with pytest.raises(DemoUnavailable, match="ANTHROPIC_API_KEY"):
        asyncio.run(run_demo(console, provider="anthropic"))
    with pytest.raises(DemoUnavailable, match="unknown provider"):
        asyncio.run(run_demo(console, provider="mistral"))
    assert console.file.getvalue() == ""  # type: ignore[attr-defined]


def test_the_live_view_shows_calls_as_they_run():
    out = io.StringIO()
    console = Console(file=out, width=100, force_terminal=True, color_system=None)
    progress = LiveProgress(console, enabled=True)
    with progress:
        progress.scenario(1, 4, "Weather")
        observe = progress.run(Way.STREAMING)
        call = ToolCall("c1", "get_weather", {"city": "Paris"})
        observe(CallStarted(1, call, at=0.0, early=True))
        observe(CallStarted(1, ToolCall("c2", "fetch_page", {"url": "http://x/pages/a"}), 0, False))
        result = ToolResult("c1", "get_weather", "sunny", started_at=0.0, ended_at=0.25)
        observe(CallFinished(1, result))
        with console.capture() as capture:
            console.print(progress)
    shown = capture.get()
    assert "Scenario 1/4" in shown
    assert "parallel + streaming" in shown
    for text in ("get_weather", "Paris", "0.25 s", "started early", "fetch_page", "running"):
        assert text in shown


def test_calls_per_turn_are_shown_compactly():
    assert calls_per_turn((1, 1, 1, 0)) == "1\N{MULTIPLICATION SIGN}3, 0"
    assert calls_per_turn((3, 0)) == "3, 0"


def test_naive_gather_races_only_within_a_turn():
    from volley.demo._backends import Backends
    from volley.demo._race import naive_gather
    from volley.demo._tools import make_tools

    create = ToolCall("a", "create_record", {"id": "R-1", "title": "Order 1"})
    update = ToolCall("b", "update_record", {"id": "R-1", "status": "shipped"})

    async def main():
        async with Backends(TEST_TIME_SCALE) as backends:
            tools = {t.name: t for t in make_tools(backends)}
            together = await naive_gather(tools, [[create, update]])
            state_together = backends.store.get("R-1")
            backends.store.delete("R-1")
            apart = await naive_gather(tools, [[create], [update]])
            return together, state_together, apart, backends.store.get("R-1")

    together, state_together, apart, state_apart = asyncio.run(main())
    assert [(c.name, c.finished, c.is_error) for c in together] == [
        ("create_record", 2, False),
        ("update_record", 1, True),
    ]
    assert state_together == RecordState("R-1", "Order 1", "draft")
    assert [(c.finished, c.is_error) for c in apart] == [(1, False), (2, False)]
    assert state_apart == RecordState("R-1", "Order 1", "shipped")
