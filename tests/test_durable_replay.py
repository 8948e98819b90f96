"""Resuming from every prefix of a recorded journal: each call's fate follows the rules.

A run is recorded whole; then, for a cut after every record (what a crash at that moment leaves
on disk), a fresh agent resumes from the prefix. Whatever the cut: a call recorded as finished
never runs again; a call that may write, started and not finished, never runs again and the
model reads `outcome_unknown`; every call of the conversation has exactly one result, in call
order; the run ends with the model's answer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _hyp import examples
from hypothesis import given
from hypothesis import strategies as st

from volley import Agent, ModelTurn, ToolCall, ToolReturns, tool
from volley._durable import idempotency_key
from volley.journal import SQLiteJournal, StoredRecord
from volley.journal._codec import FinishedRecord, StartedRecord, decode
from volley.providers import FunctionProvider, ModelRequest

KINDS = ("read", "write", "iwrite", "touch")
"""A read, a declared write, an idempotent write, a tool that declares nothing."""

Script = list[list[tuple[str, str]]]
"""Each turn's calls: (kind, record key)."""


@dataclass
class World:
    """The tools, with a log of what really ran."""

    ran: list[tuple[str, str | None]] = field(default_factory=list)

    def tools(self) -> list[Any]:
        world = self

        @tool(effects="read")
        async def read(key: str) -> str:
            """Read."""
            world.ran.append(("read", idempotency_key()))
            await asyncio.sleep(0)
            return f"read {key}"

        @tool(writes=lambda a: [a["key"]])
        async def write(key: str) -> str:
            """Write."""
            world.ran.append(("write", idempotency_key()))
            await asyncio.sleep(0)
            return f"wrote {key}"

        @tool(writes=lambda a: [a["key"]], idempotent=True)
        async def iwrite(key: str) -> str:
            """Write idempotently."""
            world.ran.append(("iwrite", idempotency_key()))
            return f"set {key}"

        def touch(key: str) -> str:
            """Touch (declares nothing)."""
            world.ran.append(("touch", idempotency_key()))
            return f"touched {key}"

        return [read, write, iwrite, touch]


def scripted(script: Script) -> FunctionProvider:
    def respond(request: ModelRequest) -> ModelTurn:
        turn = sum(1 for m in request.messages if isinstance(m, ModelTurn))
        if turn == len(script):
            return ModelTurn(text="done")
        calls = tuple(
            ToolCall(f"t{turn}c{i}", kind, {"key": key})
            for i, (kind, key) in enumerate(script[turn])
        )
        return ModelTurn(calls=calls, stop="tool_calls")

    return FunctionProvider(respond)


async def record_whole(script: Script, path: Path) -> list[StoredRecord]:
    world = World()
    async with SQLiteJournal(str(path)) as journal:
        agent = Agent(scripted(script), world.tools(), journal=journal)
        result = await agent.run("go", run_id="r")
        assert result.output == "done"
        return await journal.records("r")


async def cut_journal(records: Sequence[StoredRecord], path: Path) -> None:
    """A journal holding only `records`, as a crash would have left it (no holder)."""
    async with SQLiteJournal(str(path)) as journal:
        await journal.begin("r", "go", records[0].data)
        for record in records[1:]:
            journal.append("r", record.data, durable=False)
        await journal.end("r", "failed", output=None, error="cut")


def fates(records: Sequence[StoredRecord]) -> tuple[set[str], dict[str, bool]]:
    """Calls finished in these records; calls started and unfinished (id -> may write)."""
    finished: set[str] = set()
    started: dict[str, bool] = {}
    for stored in records[1:]:
        record = decode(stored.data, run_id="r", seq=stored.seq)
        if isinstance(record, FinishedRecord) and record.result.error_kind != "cancelled":
            finished.add(record.result.call_id)
        elif isinstance(record, StartedRecord):
            started[record.call_id] = record.writes
    return finished, {c: w for c, w in started.items() if c not in finished}


async def resume_cut(script: Script, records: Sequence[StoredRecord], path: Path) -> None:
    await cut_journal(records, path)
    finished, interrupted = fates(records)
    world = World()
    async with SQLiteJournal(str(path)) as journal:
        agent = Agent(scripted(script), world.tools(), journal=journal)
        result = await agent.resume("r")
        info = await journal.info("r")
    assert result.output == "done"
    assert info is not None
    assert info.status == "finished"
    ran_ids = [key.rsplit("/", 1)[1] for _, key in world.ran if key is not None]
    assert not set(ran_ids) & finished, "a finished call ran again"
    assert len(ran_ids) == len(set(ran_ids)), "a call ran twice in one resume"
    writes_cut = {c for c, writes in interrupted.items() if writes}
    assert not set(ran_ids) & writes_cut, "an interrupted write ran again"
    results = {
        r.call_id: r for m in result.messages if isinstance(m, ToolReturns) for r in m.results
    }
    for call_id in writes_cut:
        assert results[call_id].error_kind == "outcome_unknown"
    calls = [c for m in result.messages if isinstance(m, ModelTurn) for c in m.calls]
    returns = [m for m in result.messages if isinstance(m, ToolReturns)]
    assert [c.id for c in calls] == [r.call_id for m in returns for r in m.results]
    assert len(calls) == sum(len(turn) for turn in script)


turn_calls = st.lists(
    st.tuples(st.sampled_from(KINDS), st.sampled_from(["a", "b"])), min_size=1, max_size=4
)


@examples(30)
@given(script=st.lists(turn_calls, min_size=1, max_size=3))
def test_resume_from_every_cut_follows_the_rules(tmp_path_factory: Any, script: Script) -> None:
    base = tmp_path_factory.mktemp("cut")

    async def main() -> None:
        records = await record_whole(script, base / "whole.db")
        for k in range(1, len(records) + 1):
            await resume_cut(script, records[:k], base / f"cut{k}.db")

    asyncio.run(main())


def test_idempotency_keys_are_the_same_across_a_resume(tmp_path: Path) -> None:
    script: Script = [[("iwrite", "a"), ("read", "b")]]

    async def main() -> tuple[list[Any], list[Any]]:
        records = await record_whole(script, tmp_path / "whole.db")
        kept = {"run", "turn", "started"}  # both calls began; neither finished
        cut = [r for r in records if decode(r.data, run_id="r", seq=r.seq).kind in kept][:4]
        assert [decode(r.data, run_id="r", seq=r.seq).kind for r in cut] == [
            *("run", "turn", "started", "started")
        ]
        first = World()
        # What the whole run's tools were told, from a fresh recording.
        async with SQLiteJournal(str(tmp_path / "again.db")) as journal:
            agent = Agent(scripted(script), first.tools(), journal=journal)
            await agent.run("go", run_id="r")
        await cut_journal(cut, tmp_path / "cut.db")
        second = World()
        async with SQLiteJournal(str(tmp_path / "cut.db")) as journal:
            await Agent(scripted(script), second.tools(), journal=journal).resume("r")
        return first.ran, second.ran

    first, second = asyncio.run(main())
    assert sorted(first) == sorted(second)
    assert {key for _, key in second} == {"r/1/t0c0", "r/1/t0c1"}
