"""Durable runs as a user meets them: run ids, conversations continued, approvals, bad journals."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from volley import (
    Agent,
    ConfigurationError,
    ModelTurn,
    RunEvent,
    RunFinished,
    ToolCall,
    ToolReturns,
    UserPrompt,
    tool,
)
from volley._events import RunPaused
from volley.journal import (
    JournalCorrupt,
    RunExists,
    RunHeld,
    RunNotFound,
    SQLiteJournal,
    open_journal,
)
from volley.providers import FunctionProvider, ModelRequest

Turns = list[tuple[ToolCall, ...]]


def scripted(turns: Turns, answer: str = "done") -> FunctionProvider:
    """Answers with each turn's calls in order (counting its own earlier responses), then text."""

    def respond(request: ModelRequest) -> ModelTurn:
        since_prompt = 0
        for message in request.messages:
            if isinstance(message, UserPrompt):
                since_prompt = 0
            elif isinstance(message, ModelTurn):
                since_prompt += 1
        if since_prompt < len(turns):
            return ModelTurn(calls=turns[since_prompt], stop="tool_calls")
        return ModelTurn(text=answer)

    return FunctionProvider(respond)


class Ledger:
    """Tools over one record store, noting every call that really ran."""

    def __init__(self) -> None:
        self.ran: list[str] = []
        self.store: dict[str, str] = {}

    def tools(self) -> list[Any]:
        ledger = self

        @tool(writes=lambda a: [f"rec:{a['id']}"])
        async def create(id: str) -> str:
            """Create a record."""
            ledger.ran.append(f"create {id}")
            ledger.store[id] = "draft"
            return "created"

        @tool(reads=lambda a: [f"rec:{a['id']}"])
        async def get(id: str) -> str:
            """Read a record."""
            ledger.ran.append(f"get {id}")
            await asyncio.sleep(0.01)
            return ledger.store.get(id, "missing")

        @tool(writes=lambda a: [f"rec:{a['id']}"], requires_approval=True)
        async def pay(id: str) -> str:
            """Pay a record (a person approves first)."""
            ledger.ran.append(f"pay {id}")
            ledger.store[id] = "paid"
            return "paid"

        return [create, get, pay]


def call(call_id: str, name: str, **arguments: Any) -> ToolCall:
    return ToolCall(call_id, name, arguments)


def run(coro_fn: Callable[[], Any]) -> Any:
    return asyncio.run(coro_fn())


# -- run ids and continued conversations ---------------------------------------------------


def test_a_finished_run_id_returns_its_recorded_result_without_asking_the_model(
    tmp_path: Path,
) -> None:
    ledger = Ledger()
    model = scripted([(call("c1", "create", id="1"),)])
    url = f"sqlite:///{tmp_path}/runs.db"

    async def main() -> tuple[Any, Any]:
        async with Agent(model, ledger.tools(), journal=url) as agent:
            first = await agent.run("make one", run_id="job-1")
            asked = len(model.requests)
            again = await agent.run("make one", run_id="job-1")
            assert len(model.requests) == asked
            return first, again

    first, again = run(main)
    assert again.output == first.output == "done"
    assert again.run_id == "job-1"
    assert [m.kind for m in again.messages] == [m.kind for m in first.messages]
    assert again.messages[2] == first.messages[2]  # the results, as recorded
    assert ledger.ran == ["create 1"]


def test_an_unfinished_run_id_says_to_resume(tmp_path: Path) -> None:
    ledger = Ledger()
    model = scripted([(call("c1", "pay", id="1"),)])

    async def main() -> None:
        async with Agent(model, ledger.tools(), journal=f"sqlite:///{tmp_path}/r.db") as agent:
            paused = await agent.run("pay it", run_id="p")
            assert paused.status == "paused"
            with pytest.raises(RunExists, match=r"agent\.resume\('p'\)"):
                await agent.run("pay it", run_id="p")

    run(main)


def test_message_history_continues_a_conversation(tmp_path: Path) -> None:
    ledger = Ledger()
    model = scripted([(call("c1", "create", id="1"),)], answer="ok")

    async def main() -> tuple[Any, Any]:
        async with Agent(model, ledger.tools(), journal=f"sqlite:///{tmp_path}/r.db") as agent:
            first = await agent.run("make one")
            second = await agent.run("and again", message_history=first.messages)
            again = await agent.run("x", run_id=second.run_id)  # recorded, history included
            assert again.messages == second.messages
            return first, second

    first, second = run(main)
    assert second.messages[: len(first.messages)] == first.messages
    assert second.messages[len(first.messages)] == UserPrompt("and again")
    assert first.run_id != second.run_id
    assert ledger.ran == ["create 1", "create 1"]


def test_message_history_must_hold_messages() -> None:
    agent = Agent(scripted([]), [])
    with pytest.raises(TypeError, match="message_history"):
        agent.run_sync("hi", message_history=["not a message"])  # type: ignore[list-item]


def test_without_a_journal_runs_have_ids_and_cannot_be_resumed() -> None:
    agent = Agent(scripted([]), [])
    result = agent.run_sync("hi")
    assert len(result.run_id) == 32
    with pytest.raises(ConfigurationError, match="journal"):
        asyncio.run(agent.resume(result.run_id))


def test_resuming_an_unknown_run_says_so(tmp_path: Path) -> None:
    agent = Agent(scripted([]), [], journal=f"sqlite:///{tmp_path}/r.db")
    with pytest.raises(RunNotFound, match="no run 'nope'"):
        asyncio.run(agent.resume("nope"))


# -- approvals ----------------------------------------------------------------------------


def test_approval_pauses_only_what_must_wait_and_resume_runs_it(tmp_path: Path) -> None:
    """create 1, get 2, pay 1, get 1: pay waits; get 1 follows it and conflicts: it waits too."""
    ledger = Ledger()
    turn = (
        call("c1", "create", id="1"),
        call("c2", "get", id="2"),
        call("c3", "pay", id="1"),
        call("c4", "get", id="1"),
    )
    model = scripted([turn])
    events: list[RunEvent] = []
    url = f"sqlite:///{tmp_path}/r.db"

    async def main() -> tuple[Any, Any]:
        async with Agent(model, ledger.tools(), journal=url, observers=[events.append]) as agent:
            paused = await agent.run("go", run_id="a")
        assert sorted(ledger.ran) == ["create 1", "get 2"]  # they overlap
        # Another agent (as another process would) decides later.
        later = Ledger()
        later.store = dict(ledger.store)
        async with Agent(model, later.tools(), journal=url) as agent:
            done = await agent.resume("a", approvals={"c3": True})
        ledger.ran += later.ran
        return paused, done

    paused, done = run(main)
    assert paused.status == "paused"
    assert paused.output == ""
    assert [c.id for c in paused.pending_approvals] == ["c3"]
    assert [m.kind for m in paused.messages] == ["user"]  # no unanswered call in it
    pause = [e for e in events if isinstance(e, RunPaused)]
    assert len(pause) == 1
    assert pause[0].waiting == ("c4",)
    assert isinstance(events[-1], RunFinished)
    assert events[-1].result.status == "paused"
    assert done.status == "finished"
    assert done.output == "done"
    assert ledger.ran[2:] == ["pay 1", "get 1"]
    returns = done.messages[2]
    assert isinstance(returns, ToolReturns)
    assert [r.call_id for r in returns.results] == ["c1", "c2", "c3", "c4"]
    assert returns.results[3].content == "paid"  # read after the payment, in the model's order


def test_a_denied_call_tells_the_model_and_never_runs(tmp_path: Path) -> None:
    ledger = Ledger()
    model = scripted([(call("c1", "pay", id="1"), call("c2", "pay", id="2"))])

    async def main() -> tuple[Any, Any, Any]:
        async with Agent(model, ledger.tools(), journal=f"sqlite:///{tmp_path}/r.db") as agent:
            await agent.run("go", run_id="d")
            half = await agent.resume("d", approvals={"c2": False})
            done = await agent.resume("d", approvals={"c1": True})
            return half, done, agent

    half, done, _ = run(main)
    assert half.status == "paused"
    assert [c.id for c in half.pending_approvals] == ["c1"]
    assert ledger.ran == ["pay 1"]
    returns = done.messages[2]
    assert isinstance(returns, ToolReturns)
    assert returns.results[0].content == "paid"
    assert returns.results[1].error_kind == "denied"
    assert "did not approve" in returns.results[1].content


def test_approvals_must_name_waiting_calls(tmp_path: Path) -> None:
    ledger = Ledger()
    model = scripted([(call("c1", "pay", id="1"),)])

    async def main() -> None:
        async with Agent(model, ledger.tools(), journal=f"sqlite:///{tmp_path}/r.db") as agent:
            await agent.run("go", run_id="x")
            with pytest.raises(ValueError, match=r"not waiting.*\['zz'\]"):
                await agent.resume("x", approvals={"zz": True})
            # The refused resume let the run go: it can be resumed right away.
            assert (await agent.resume("x", approvals={"c1": True})).status == "finished"

    run(main)


def test_an_approval_policy_and_the_need_for_a_journal() -> None:
    ledger = Ledger()
    tools = ledger.tools()
    with pytest.raises(ConfigurationError, match="need a journal"):
        Agent(scripted([]), tools)
    with pytest.raises(ConfigurationError, match="need a journal"):
        Agent(scripted([]), tools[:2], requires_approval=lambda call, tool: True)
    model = scripted([(call("c1", "get", id="1"), call("c2", "create", id="9"))])
    policy_agent = Agent(
        model,
        tools[:2],
        journal="memory",
        requires_approval=lambda call, tool: tool.name == "create",
    )
    paused = policy_agent.run_sync("go")
    assert [c.id for c in paused.pending_approvals] == ["c2"]
    assert ledger.ran == ["get 1"]


# -- damaged journals -------------------------------------------------------------------------


def _damage(path: Path, seq: int, data: str) -> None:
    with sqlite3.connect(path) as db:
        db.execute("UPDATE volley_records SET data = ? WHERE seq = ?", (data, seq))


@pytest.mark.parametrize(
    ("seq", "data", "says"),
    [
        (0, '{"kind": "turn", "turn": 1}', "record 0"),
        (1, "not json at all", "record 1"),
        (1, '{"kind": "started", "turn": "one"}', "record 1: started.turn"),
        (1, '{"kind": "bogus"}', "record 1"),
        (1, "[" * 100_000 + "]" * 100_000, "record 1"),
        (1, '{"kind": "turn", "turn": 7, "message": {}}', "turn 7 recorded after 0"),
    ],
)
def test_a_damaged_record_is_a_clear_error_and_the_run_is_let_go(
    tmp_path: Path, seq: int, data: str, says: str
) -> None:
    ledger = Ledger()
    model = scripted([(call("c1", "pay", id="1"),)])
    path = tmp_path / "r.db"

    async def main() -> None:
        async with Agent(model, ledger.tools(), journal=f"sqlite:///{path}") as agent:
            await agent.run("go", run_id="x")
        _damage(path, seq, data)
        async with Agent(model, ledger.tools(), journal=f"sqlite:///{path}") as agent:
            with pytest.raises(JournalCorrupt, match=says):
                await agent.resume("x", approvals={"c1": True})
            info = await agent.journal.info("x")  # type: ignore[union-attr]
            assert info is not None
            assert info.owner is None
            assert info.status == "paused"

    run(main)
    assert ledger.ran == []


def test_journal_urls() -> None:
    assert isinstance(open_journal("memory"), SQLiteJournal)
    assert open_journal("sqlite:///runs.db").path == "runs.db"  # type: ignore[attr-defined]
    assert open_journal("sqlite:////tmp/x.db").path == "/tmp/x.db"  # type: ignore[attr-defined]
    normal = open_journal("sqlite:///r.db?synchronous=normal")
    assert normal.synchronous == "NORMAL"  # type: ignore[attr-defined]
    for bad in ("mysql://x", "sqlite://host/x.db", "sqlite:///r.db?fast=1", "runs.db"):
        with pytest.raises(ValueError, match="journal"):
            open_journal(bad)


def test_a_running_run_keeps_its_lease_past_the_lease_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The holder renews while it runs: another process cannot take over a live run."""
    import volley._durable
    import volley.journal._sqlite

    lease = 0.3
    monkeypatch.setattr(volley._durable, "LEASE_SECONDS", lease)
    monkeypatch.setattr(volley.journal._sqlite, "LEASE_SECONDS", lease)
    started = asyncio.Event()

    @tool(effects="read")
    async def slow(id: str) -> str:
        """Take a while."""
        started.set()
        await asyncio.sleep(4 * lease)
        return "done"

    model = scripted([(call("c1", "slow", id="1"),)])
    url = f"sqlite:///{tmp_path}/r.db"

    async def main() -> None:
        async with Agent(model, [slow], journal=url) as agent:
            running = asyncio.ensure_future(agent.run("go", run_id="live"))
            await started.wait()
            await asyncio.sleep(2 * lease)  # past the first lease: only a renewal holds it
            async with SQLiteJournal(str(tmp_path / "r.db")) as other:
                with pytest.raises(RunHeld):
                    await other.claim("live")
            assert (await running).output == "done"

    run(main)


def test_what_a_model_writes_that_json_cannot_carry_is_recorded_made_safe(tmp_path: Path) -> None:
    """Lone surrogates in a response's text and raw arguments: the run goes on, recorded."""
    ledger = Ledger()
    bad = "\ud800"
    turns = [(ToolCall("c1", "get", f'{{"id": "{bad}"}}'), call("c2", "create", id="1"))]

    def respond(request: ModelRequest) -> ModelTurn:
        if len(request.messages) == 1:
            return ModelTurn(text=f"odd {bad} text", calls=turns[0], stop="tool_calls")
        return ModelTurn(text="done")

    model = FunctionProvider(respond)
    url = f"sqlite:///{tmp_path}/r.db"

    async def main() -> tuple[Any, Any]:
        async with Agent(model, ledger.tools(), journal=url) as agent:
            first = await agent.run("go", run_id="s")
            again = await agent.run("go", run_id="s")
            return first, again

    first, again = run(main)
    assert first.output == again.output == "done"
    returns = again.messages[2]
    assert isinstance(returns, ToolReturns)
    assert returns.results[0].error_kind == "invalid_arguments"
    assert ledger.ran == ["create 1"]
    recorded = again.messages[1]
    assert isinstance(recorded, ModelTurn)
    assert recorded.text == "odd \ufffd text"
