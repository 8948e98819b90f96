"""Whatever a model writes as a call's arguments, over every adapter, the run keeps its promise.

The simulator sends hostile argument text verbatim (nested 10,000 deep, `NaN`, `Infinity`, lone
surrogate escapes, cut JSON, a megabyte, not an object) through each official SDK, streamed and
not. The run always ends: with an answer, or a `RunError` whose transcript the provider accepts
again. No tool sees a value it could not send back, and no body runs twice.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from _adapters import ADAPTERS, close
from _hyp import examples
from hypothesis import given
from hypothesis import strategies as st

from tests._sim import sim_in_thread
from volley import Agent, ModelTurn, ProviderError, RunError, RunResult, ToolReturns, tool
from volley._arguments import MAX_DEPTH
from volley.providers import ModelRequest
from volley.sim import Scenario, SimServer, parse_scenario

BODIES: Counter[str] = Counter()
SEEN: list[Any] = []


@tool(effects="read")
async def take(x: Any = None, tag: str = "") -> str:
    BODIES[tag] += 1
    SEEN.append(x)
    return "ok"


@tool
async def mark(tag: str) -> str:
    """Declares nothing: it may write."""
    BODIES[tag] += 1
    return "marked"


def scenario(text: str) -> Scenario:
    calls = [
        {"name": "take", "arguments_text": text},
        {"name": "mark", "arguments": {"tag": "beside"}},
    ]
    script = {"turns": [{"text": "Looking.", "calls": calls}, {"text": "{results}"}]}
    return parse_scenario(json.dumps(script))


def deep(n: int) -> str:
    return '{"x": ' + "[" * n + "]" * n + ', "tag": "deep"}'


hostile = st.one_of(
    st.sampled_from([deep(MAX_DEPTH - 1), deep(MAX_DEPTH + 1), deep(10_000)]),
    st.sampled_from(["NaN", "Infinity", "-Infinity", "1e400", '"\\ud800"', '"a\\udfffb"']).map(
        lambda value: '{"x": ' + value + ', "tag": "bad"}'
    ),
    st.sampled_from(["[1, 2]", '"x"', "3", "null", "", "{", '{"x": }', '{"x": 1}}']),
    st.just('{"x": "' + "y" * 1_000_000 + '", "tag": "big"}'),
    st.builds(
        lambda value, cut: json.dumps({"x": value, "tag": "cut"})[:cut],
        st.recursive(
            st.none() | st.integers() | st.text(max_size=5),
            lambda inner: (
                st.lists(inner, max_size=3)
                | st.dictionaries(st.text(max_size=3), inner, max_size=3)
            ),
            max_leaves=8,
        ),
        st.integers(0, 60),
    ),
    st.text(max_size=30).filter(lambda t: t.encode("utf-8", "strict") is not None),
)


def sendable(value: Any) -> bool:
    try:
        json.dumps(value, allow_nan=False).encode("utf-8")
    except (ValueError, TypeError, RecursionError):
        return False
    return True


def depth(value: Any) -> int:
    deepest, stack = 0, [(value, 0)]
    while stack:
        node, level = stack.pop()
        if isinstance(node, Mapping | list):
            items = node.values() if isinstance(node, Mapping) else node
            stack.extend((item, level + 1) for item in items)
            deepest = max(deepest, level + 1)
    return deepest


@pytest.fixture(scope="module", params=ADAPTERS, ids=lambda a: a.__name__)
def served(request: Any) -> Iterator[tuple[Any, SimServer]]:
    with sim_in_thread(scenario("{}"), time_scale=0) as sim:
        yield request.param, sim


async def play(adapter: Any, sim: SimServer, streaming: bool) -> RunResult | RunError:
    provider = adapter(sim)
    try:
        return await Agent(provider, [take, mark], streaming=streaming).run("go")
    except RunError as exc:
        # What is kept must be valid to send again: the provider takes it as it is (what it
        # answers may be as broken as before: the simulator plays the same hostile turn).
        request = ModelRequest(messages=exc.messages, tools=[take, mark])
        refusal: ProviderError | None = None
        try:
            await provider.complete(request)
        except ProviderError as again:
            refusal = again
        assert refusal is None or refusal.kind not in ("rejected", "encoding"), refusal
        return exc
    finally:
        await close(provider)


@pytest.mark.parametrize("streaming", [True, False], ids=["streamed", "whole"])
@given(text=hostile)
@examples(15)
def test_hostile_arguments_never_break_a_run(served: Any, streaming: bool, text: str) -> None:
    adapter, sim = served
    sim.scenario = scenario(text)
    BODIES.clear()
    SEEN.clear()
    outcome = asyncio.run(play(adapter, sim, streaming))
    assert all(times == 1 for times in BODIES.values()), BODIES
    for value in SEEN:
        assert sendable(value)
        assert depth(value) <= MAX_DEPTH
    if isinstance(outcome, RunResult):
        turn, returns = outcome.messages[1], outcome.messages[2]
        assert isinstance(turn, ModelTurn)
        assert isinstance(returns, ToolReturns)
        assert [r.call_id for r in returns.results] == [c.id for c in turn.calls]
        assert BODIES["beside"] == 1
    else:
        assert not BODIES  # nothing ran for a message that never entered the conversation
