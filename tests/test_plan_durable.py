"""Plans in a journal: resumed from every cut, a step is never run twice, never lost, and a step
resumed now takes the recorded results of the steps it refers to."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _hyp import examples
from hypothesis import given
from hypothesis import strategies as st
from test_durable_replay import cut_journal, fates

from volley import Agent, ModelTurn, ToolCall, ToolReturns, tool
from volley._durable import idempotency_key
from volley.journal import SQLiteJournal, StoredRecord
from volley.providers import FunctionProvider, ModelRequest

Step = tuple[str, int | None]
"""A step: its tool (`read` or `write`), and the earlier step whose key it takes, if any."""


@dataclass
class World:
    ran: list[str] = field(default_factory=list)
    """The call id of every body that ran (from its idempotency key)."""

    def tools(self) -> list[Any]:
        world = self

        @tool(effects="read")
        async def read(key: str) -> dict[str, str]:
            """Read."""
            world.ran.append(_call_id())
            await asyncio.sleep(0)
            return {"key": key + "r"}

        @tool(writes=lambda a: [a["key"]])
        async def write(key: str) -> dict[str, str]:
            """Write."""
            world.ran.append(_call_id())
            await asyncio.sleep(0)
            return {"key": key + "w"}

        return [read, write]


def _call_id() -> str:
    key = idempotency_key()
    assert key is not None
    return key.split("/", 2)[2]  # run/turn/call id (a step's call id holds a slash)


def plan_of(steps: list[Step]) -> dict[str, Any]:
    made = []
    for n, (kind, source) in enumerate(steps):
        key: Any = f"k{n}" if source is None else {"$ref": f"s{source}", "pointer": "/key"}
        made.append({"id": f"s{n}", "tool": kind, "arguments": {"key": key}})
    return {"steps": made}


def expected(steps: list[Step]) -> dict[str, str]:
    """Each step's key as the sequence of references makes it."""
    keys: dict[str, str] = {}
    for n, (kind, source) in enumerate(steps):
        given_key = f"k{n}" if source is None else keys[f"s{source}"]
        keys[f"s{n}"] = given_key + kind[0]
    return keys


def model(steps: list[Step]) -> FunctionProvider:
    def respond(request: ModelRequest) -> ModelTurn:
        if any(isinstance(m, ToolReturns) for m in request.messages):
            return ModelTurn(text="done")
        calls = (
            ToolCall("d0", "write", {"key": "k0"}),
            ToolCall("p", "run_plan", json.dumps(plan_of(steps))),
            ToolCall("d1", "read", {"key": "k1"}),
        )
        return ModelTurn(calls=calls, stop="tool_calls")

    return FunctionProvider(respond)


async def record_whole(steps: list[Step], path: Path) -> list[StoredRecord]:
    async with SQLiteJournal(str(path)) as journal:
        agent = Agent(model(steps), World().tools(), journal=journal, plan=True)
        result = await agent.run("go", run_id="r")
        assert result.output == "done"
        return await journal.records("r")


async def resume_cut(steps: list[Step], records: list[StoredRecord], path: Path) -> None:
    await cut_journal(records, path)
    finished, interrupted = fates(records)
    world = World()
    async with SQLiteJournal(str(path)) as journal:
        agent = Agent(model(steps), world.tools(), journal=journal, plan=True)
        result = await agent.resume("r")
    assert result.output == "done"
    assert not set(world.ran) & finished, "a finished step ran again"
    assert len(world.ran) == len(set(world.ran)), "a step ran twice in one resume"
    writes_cut = {c for c, writes in interrupted.items() if writes}
    assert not set(world.ran) & writes_cut, "an interrupted write ran again"
    returns = [m for m in result.messages if isinstance(m, ToolReturns)]
    assert [r.call_id for r in returns[0].results] == ["d0", "p", "d1"]
    report = json.loads(returns[0].results[1].content)
    assert list(report) == [f"s{n}" for n in range(len(steps))]
    keys = expected(steps)
    unknown = {f"p/s{n}" for n in range(len(steps))} & writes_cut
    for step_id, outcome in report.items():
        if f"p/{step_id}" in unknown:
            assert outcome["error"].startswith("outcome_unknown")
        elif "error" in outcome:  # only for a step after an unknown outcome
            assert outcome["error"].startswith("dependency_failed")
        else:
            assert outcome == {"result": {"key": keys[step_id]}}


@st.composite
def plans(draw: Any) -> list[Step]:
    count = draw(st.integers(1, 4))
    steps: list[Step] = []
    for n in range(count):
        kind = draw(st.sampled_from(["read", "write"]))
        source = draw(st.none() | st.integers(0, n - 1)) if n else None
        steps.append((kind, source))
    return steps


@examples(25)
@given(steps=plans())
def test_a_plan_resumed_from_every_cut_follows_the_rules(
    tmp_path_factory: Any, steps: list[Step]
) -> None:
    base = tmp_path_factory.mktemp("plan")

    async def main() -> None:
        records = await record_whole(steps, base / "whole.db")
        for k in range(1, len(records) + 1):
            await resume_cut(steps, records[:k], base / f"cut{k}.db")

    asyncio.run(main())
