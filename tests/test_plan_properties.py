"""Random plans, including broken ones: every step is answered once, and runs only when it may.

A plan's steps refer to each other at random (forward, backward, to themselves, to steps that
do not exist), fail at random, and write shared keys. Whatever the plan: its result names every
step once, in the plan's order; a step's body runs exactly when no step it refers to failed and
it is not on a cycle; a step starts only after every step it refers to ended; two writes of a key
never overlap; the run always ends.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from typing import Any

from _hyp import examples
from _vtime import vrun
from hypothesis import given
from hypothesis import strategies as st

from volley import Agent, ModelTurn, ToolCall, ToolReturns, tool
from volley.providers import FunctionProvider, ModelRequest

Plan = list[dict[str, Any]]


class World:
    def __init__(self) -> None:
        self.spans: dict[str, tuple[float, float]] = {}
        self.writes: dict[str, list[tuple[float, float]]] = {}

    def tools(self) -> list[Any]:
        world = self

        async def body(tag: str, ms: int) -> None:
            loop = asyncio.get_running_loop()
            start = loop.time()
            await asyncio.sleep(ms / 1000)
            world.spans[tag] = (start, loop.time())

        @tool(effects="read")
        async def read(tag: str, ms: int, deps: list[Any]) -> dict[str, str]:
            """Read."""
            await body(tag, ms)
            return {"tag": tag}

        @tool(writes=lambda a: [a["key"]])
        async def write(tag: str, ms: int, deps: list[Any], key: str) -> dict[str, str]:
            """Write."""
            await body(tag, ms)
            world.writes.setdefault(key, []).append(world.spans[tag])
            return {"tag": tag}

        @tool
        async def fail(tag: str, ms: int, deps: list[Any]) -> None:
            """Fail."""
            await body(tag, ms)
            raise RuntimeError(f"{tag} failed")

        return [read, write, fail]


@st.composite
def plans(draw: Any) -> Plan:
    count = draw(st.integers(1, 7))
    ids = [f"s{n}" for n in range(count)]
    plan: Plan = []
    for step_id in ids:
        kind = draw(st.sampled_from(["read", "read", "write", "fail"]))
        refs = draw(st.lists(st.sampled_from([*ids, "ghost"]), max_size=2, unique=True))
        pointers = [
            {"$ref": r} if draw(st.booleans()) else {"$ref": r, "pointer": "/tag"} for r in refs
        ]
        arguments: dict[str, Any] = {"tag": step_id, "ms": draw(st.integers(0, 3)) * 10}
        arguments["deps"] = pointers
        if kind == "write":
            arguments["key"] = draw(st.sampled_from(["a", "b"]))
        plan.append({"id": step_id, "tool": kind, "arguments": arguments})
    return plan


def refs_of(step: dict[str, Any]) -> list[str]:
    return [d["$ref"] for d in step["arguments"]["deps"]]


def on_cycle(plan: Plan, refused: set[str]) -> set[str]:
    """Steps on a cycle of references (a refused step answers at once: no cycle through it)."""
    graph = {
        s["id"]: [r for r in refs_of(s) if r not in refused] if s["id"] not in refused else []
        for s in plan
    }

    def reaches(start: str, goal: str) -> bool:
        seen, todo = set(), list(graph[start])
        while todo:
            node = todo.pop()
            if node == goal:
                return True
            if node not in seen:
                seen.add(node)
                todo.extend(graph[node])
        return False

    return {s for s in graph if reaches(s, s)}


def expected(plan: Plan) -> dict[str, str]:
    """Each step's fate: 'ok', or the error kind it must end with."""
    refused = {s["id"] for s in plan if "ghost" in refs_of(s)}  # answered before any runs
    selfish = {s["id"] for s in plan if s["id"] in refs_of(s)} - refused  # answered at once too
    cycle = on_cycle(plan, refused | selfish) | selfish
    by_id = {s["id"]: s for s in plan}
    fate: dict[str, str] = {}

    def of(step_id: str) -> str:
        if step_id in fate:
            return fate[step_id]
        step = by_id[step_id]
        if step_id in refused:
            fate[step_id] = "dependency_failed"
        elif step_id in cycle:
            fate[step_id] = "dependency_cycle"
        elif any(of(r) != "ok" for r in refs_of(step)):
            fate[step_id] = "dependency_failed"
        else:
            fate[step_id] = "exception" if step["tool"] == "fail" else "ok"
        return fate[step_id]

    for step in plan:
        of(step["id"])
    return fate


@examples(300)
@given(plans())
def test_every_step_is_answered_once_and_runs_only_when_it_may(plan: Plan) -> None:
    world = World()

    def respond(request: ModelRequest) -> ModelTurn:
        if any(isinstance(m, ToolReturns) for m in request.messages):
            return ModelTurn(text="done")
        call = ToolCall("p", "run_plan", json.dumps({"steps": plan}))
        return ModelTurn(calls=(call,), stop="tool_calls")

    agent = Agent(FunctionProvider(respond), world.tools(), plan=True)
    result = vrun(lambda: agent.run("go"))
    returns = result.messages[2]
    assert isinstance(returns, ToolReturns)
    report = json.loads(returns.results[0].content)
    assert list(report) == [s["id"] for s in plan]
    fates = expected(plan)
    for step in plan:
        step_id, outcome = step["id"], report[step["id"]]
        fate = fates[step_id]
        if fate == "ok":
            assert outcome == {"result": {"tag": step_id}}
        else:
            assert outcome["error"].startswith(fate), (step_id, outcome)
        ran = fate in ("ok", "exception")
        assert (step_id in world.spans) == ran
        if ran:
            for ref in refs_of(step):
                assert world.spans[ref][1] <= world.spans[step_id][0]
    for spans in world.writes.values():
        ordered = sorted(spans)
        assert all(a[1] <= b[0] for a, b in itertools.pairwise(ordered))
