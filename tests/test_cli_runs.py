"""`volley runs`: a journal's runs listed, shown and resumed; bad journals in one line, exit 2."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import volley.cli._runs as runs_module
from volley import Agent, ModelTurn, RunResult, ToolCall, ToolReturns, UserPrompt
from volley.cli import main
from volley.cli._run import load_tools
from volley.providers import FunctionProvider, ModelRequest

TOOLS = textwrap.dedent(
    '''
    import asyncio

    from volley import tool

    RAN = []
    GATE = None


    @tool(effects="read")
    def lookup(id: str) -> str:
        """Look an invoice up."""
        RAN.append(f"lookup {id}")
        return f"invoice {id}: 30 EUR"


    @tool(writes=lambda a: [f"inv:{a['id']}"], requires_approval=True)
    def pay(id: str) -> str:
        """Pay an invoice (a person approves first)."""
        RAN.append(f"pay {id}")
        return f"paid {id}"


    @tool(writes=lambda a: [f"mail:{a['to']}"])
    async def send(to: str) -> str:
        """Send a mail (hangs until the test lets it go)."""
        RAN.append(f"send {to}")
        await GATE.wait()
        return "sent"


    @tool(reads=lambda a: [f"inv:{a['id']}"])
    async def slow_read(id: str) -> str:
        """A read that hangs until the test lets it go."""
        await GATE.wait()
        return "read"
    '''
)


def scripted(turns: list[tuple[ToolCall, ...]], answer: str = "All paid.") -> FunctionProvider:
    """Each turn's calls in order (counting its own earlier responses), then `answer`."""

    def respond(request: ModelRequest) -> ModelTurn:
        done = sum(isinstance(m, ModelTurn) for m in request.messages)
        if done < len(turns):
            return ModelTurn(text=f"Step {done + 1}.", calls=turns[done], stop="tool_calls")
        return ModelTurn(text=answer)

    return FunctionProvider(respond, name="scripted")


@pytest.fixture
def tools_file(tmp_path: Path) -> Path:
    path = tmp_path / "invoice_tools.py"
    path.write_text(TOOLS)
    return path


def tools_of(path: Path) -> tuple[list[Any], Any]:
    toolbox = load_tools([str(path)])
    module = sys.modules[toolbox.get("lookup").fn.__module__]
    module.RAN.clear()
    return list(toolbox), module


def paused_run(tmp_path: Path, tools_file: Path) -> tuple[str, Any]:
    """A run of `invoice-42` paused for approval of `c2` (pay), `c1` (lookup) answered."""
    url = f"sqlite:///{tmp_path}/runs.db"
    tools, module = tools_of(tools_file)
    model = scripted(
        [(ToolCall("c1", "lookup", {"id": "42"}), ToolCall("c2", "pay", {"id": "42"}))]
    )

    async def go() -> RunResult:
        async with Agent(model, tools, journal=url) as agent:
            return await agent.run("Pay invoice 42", run_id="invoice-42")

    result = asyncio.run(go())
    assert result.status == "paused"
    return url, module


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out = capsys.readouterr()
    return status, out.out, out.err


def cli_json(capsys: pytest.CaptureFixture[str], *argv: str) -> Any:
    status, out, err = cli(capsys, *argv, "--json")
    assert status == 0, err
    return json.loads(out)


@pytest.fixture
def scripted_model(monkeypatch: pytest.MonkeyPatch) -> Callable[[FunctionProvider], None]:
    """Make `volley runs resume` talk to a FunctionProvider, whatever --model says."""

    def use(model: FunctionProvider) -> None:
        real = runs_module.Agent

        def agent(_model: Any, *args: Any, **kwargs: Any) -> Agent:
            return real(model, *args, **kwargs)

        monkeypatch.setattr(runs_module, "Agent", agent)

    return use


# -- list and show ---------------------------------------------------------------------------


def test_list_shows_recent_runs_and_filters_by_status(
    tmp_path: Path, tools_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url, _ = paused_run(tmp_path, tools_file)
    tools, _ = tools_of(tools_file)

    async def finished() -> None:
        async with Agent(scripted([]), tools, journal=url) as agent:
            await agent.run("Say hello", run_id="hello")

    asyncio.run(finished())

    status, out, err = cli(capsys, "runs", "list", "--journal", url)
    assert status == 0, err
    assert "invoice-42" in out
    assert "paused" in out
    assert "Pay invoice 42" in out
    assert "hello" in out
    assert "finished" in out

    listed = cli_json(capsys, "runs", "list", "--journal", url)
    assert [r["run_id"] for r in listed] == ["hello", "invoice-42"]  # most recent first
    assert listed[1]["status"] == "paused"
    assert listed[1]["records"] >= 4

    only = cli_json(capsys, "runs", "list", "--journal", url, "--status", "paused")
    assert [r["run_id"] for r in only] == ["invoice-42"]
    one = cli_json(capsys, "runs", "list", "--journal", url, "--limit", "1")
    assert [r["run_id"] for r in one] == ["hello"]
    assert cli_json(capsys, "runs", "list", "--journal", url, "--status", "failed") == []


def test_show_tells_the_paused_run_and_what_a_resume_would_do(
    tmp_path: Path, tools_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url, _ = paused_run(tmp_path, tools_file)

    shown = cli_json(capsys, "runs", "show", "invoice-42", "--journal", url)
    assert shown["status"] == "paused"
    assert shown["prompt"] == "Pay invoice 42"
    assert shown["model"] == "function:scripted"
    assert set(shown["tools"]) == {"lookup", "pay", "send", "slow_read"}
    (turn,) = shown["turns"]
    assert turn["index"] == 1
    assert turn["ended"] is False
    assert turn["text"] == "Step 1."
    lookup, pay = turn["calls"]
    assert lookup["tool"] == "lookup"
    assert lookup["arguments"] == {"id": "42"}
    assert lookup["state"] == "finished"
    assert lookup["resume"] == "reuse"
    assert lookup["result"]["content"] == "invoice 42: 30 EUR"
    assert pay["state"] == "not started"
    assert pay["resume"] == "awaits_approval"
    assert pay["result"] is None
    assert shown["pending_approvals"] == [{"id": "c2", "tool": "pay", "arguments": {"id": "42"}}]
    assert shown["end"]["status"] == "paused"

    status, out, err = cli(capsys, "runs", "show", "invoice-42", "--journal", url)
    assert status == 0, err
    assert "prompt: Pay invoice 42" in out
    assert "lookup" in out
    assert "invoice 42: 30 EUR" in out
    assert "waits for a person's approval" in out
    assert "waiting for approval" in out
    assert "--approve c2" in out


def test_paused_then_approved_through_runs_resume(
    tmp_path: Path,
    tools_file: Path,
    capsys: pytest.CaptureFixture[str],
    scripted_model: Callable[[FunctionProvider], None],
) -> None:
    url, module = paused_run(tmp_path, tools_file)
    assert module.RAN == ["lookup 42"]
    model = scripted([], answer="Invoice 42 is paid.")
    scripted_model(model)

    status, out, err = cli(
        capsys, "runs", "resume", "invoice-42", "--journal", url, "--tools", str(tools_file),
        "--approve", "c2",
    )  # fmt: skip
    assert status == 0, err
    assert module.RAN == ["lookup 42", "pay 42"]  # the lookup was not run again
    assert "pay" in out
    assert "paid 42" in out
    assert "round trips" in out
    (request,) = model.requests
    returns = [m for m in request.messages if isinstance(m, ToolReturns)]
    assert [r.content for r in returns[-1].results] == ["invoice 42: 30 EUR", "paid 42"]
    assert request.instructions is not None
    assert "several tools" in request.instructions

    shown = cli_json(capsys, "runs", "show", "invoice-42", "--journal", url)
    assert shown["status"] == "finished"
    assert shown["end"] == {"status": "finished", "output": "Invoice 42 is paid.", "error": None}
    assert [t["ended"] for t in shown["turns"]] == [True, True]
    assert shown["pending_approvals"] == []
    assert all(c["resume"] is None for t in shown["turns"] for c in t["calls"])

    # Resuming a finished run changes nothing.
    status, out, _ = cli(capsys, "runs", "resume", "invoice-42", "--journal", url)
    assert status == 0
    assert "nothing to resume" in out
    assert "Invoice 42 is paid." in out
    assert module.RAN == ["lookup 42", "pay 42"]


def test_a_denied_call_never_runs_and_the_model_is_told(
    tmp_path: Path,
    tools_file: Path,
    capsys: pytest.CaptureFixture[str],
    scripted_model: Callable[[FunctionProvider], None],
) -> None:
    url, module = paused_run(tmp_path, tools_file)
    model = scripted([], answer="Not paid.")
    scripted_model(model)

    status, _, err = cli(
        capsys, "runs", "resume", "invoice-42", "--journal", url, "--tools", str(tools_file),
        "--deny", "c2",
    )  # fmt: skip
    assert status == 0, err
    assert module.RAN == ["lookup 42"]
    shown = cli_json(capsys, "runs", "show", "invoice-42", "--journal", url)
    pay = shown["turns"][0]["calls"][1]
    assert pay["result"]["error_kind"] == "denied"


def test_resume_without_a_decision_pauses_again(
    tmp_path: Path,
    tools_file: Path,
    capsys: pytest.CaptureFixture[str],
    scripted_model: Callable[[FunctionProvider], None],
) -> None:
    url, module = paused_run(tmp_path, tools_file)
    scripted_model(scripted([]))

    status, out, err = cli(
        capsys, "runs", "resume", "invoice-42", "--journal", url, "--tools", str(tools_file)
    )
    assert status == 0, err
    assert "paused: waiting for approval of" in out
    assert "c2" in out
    assert module.RAN == ["lookup 42"]


def test_an_interrupted_turn_shows_what_resume_reruns_and_what_it_will_not(
    tmp_path: Path, tools_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path}/runs.db"
    tools, module = tools_of(tools_file)
    calls = (
        ToolCall("r1", "lookup", {"id": "7"}),
        ToolCall("r2", "slow_read", {"id": "7"}),
        ToolCall("w1", "send", {"to": "ann"}),
        ToolCall("r3", "lookup", {"id": "8"}),
    )

    async def crash() -> None:
        module.GATE = asyncio.Event()  # never set: the calls hang, as in a process killed
        async with Agent(scripted([calls]), tools, journal=url) as agent:
            task = asyncio.create_task(agent.run("Mail Ann", run_id="mail"))
            while "send ann" not in module.RAN:
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.05)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

    asyncio.run(crash())
    shown = cli_json(capsys, "runs", "show", "mail", "--journal", url)
    assert shown["status"] == "running"
    (turn,) = shown["turns"]
    by_id = {c["id"]: c for c in turn["calls"]}
    assert by_id["r1"]["resume"] == "reuse"
    assert by_id["w1"]["state"] == "started"
    assert by_id["w1"]["resume"] == "outcome_unknown"
    assert by_id["r2"]["state"] == "started"
    assert by_id["r2"]["resume"] == "run_again"
    assert by_id["r3"]["state"] == "not started"
    assert by_id["r3"]["resume"] == "run"

    status, out, err = cli(capsys, "runs", "show", "mail", "--journal", url)
    assert status == 0, err
    assert "started, did not finish" in out
    assert "outcome is unknown" in out


def test_show_draws_the_runs_timeline_from_its_journal(
    tmp_path: Path, tools_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url, _ = paused_run(tmp_path, tools_file)
    page = tmp_path / "run.html"

    status, out, err = cli(
        capsys, "runs", "show", "invoice-42", "--journal", url, "--html", str(page)
    )
    assert status == 0, err
    assert f"wrote {page}" in out
    text = page.read_text()
    assert text.startswith("<!DOCTYPE html>") or "<html" in text[:200]
    assert "lookup" in text
    assert "Pay invoice 42" in text


def test_the_trace_of_a_finished_run_has_its_figures(tmp_path: Path, tools_file: Path) -> None:
    from volley.cli._runs import read_run, run_trace
    from volley.journal import open_journal

    url = f"sqlite:///{tmp_path}/runs.db"
    tools, _ = tools_of(tools_file)
    model = scripted(
        [(ToolCall("c1", "lookup", {"id": "1"}), ToolCall("c2", "lookup", {"id": "2"}))]
    )

    async def go() -> tuple[RunResult, Any]:
        async with Agent(model, tools, journal=url) as agent:
            result = await agent.run("Look two up", run_id="two")
        journal = open_journal(url)
        async with journal:
            return result, await read_run(journal, "two")

    result, view = asyncio.run(go())
    trace = run_trace(view, url)
    assert trace.finished
    assert trace.output == "All paid."
    assert [len(t.calls) for t in trace.turns] == [2, 0]
    assert trace.figures.round_trips == result.stats.round_trips == 2
    assert [t.stats for t in trace.turns] == list(result.stats.turns)
    assert isinstance(result.messages[0], UserPrompt)


# -- resume's options ------------------------------------------------------------------------


def test_resume_needs_a_model_when_the_recorded_one_cannot_be_made(
    tmp_path: Path, tools_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url, module = paused_run(tmp_path, tools_file)

    status, _, err = cli(
        capsys, "runs", "resume", "invoice-42", "--journal", url, "--approve", "c2"
    )
    assert status == 2
    assert "function:scripted" in err
    assert "--model" in err
    assert len(err.strip().splitlines()) == 1
    assert module.RAN == ["lookup 42"]


@pytest.mark.parametrize(
    ("options", "said"),
    [
        (["--approve", "c2", "--deny", "c2"], "both name c2"),
        (["--approve", "nope"], "not waiting"),
    ],
)
def test_resume_refuses_decisions_that_do_not_fit(
    tmp_path: Path,
    tools_file: Path,
    capsys: pytest.CaptureFixture[str],
    scripted_model: Callable[[FunctionProvider], None],
    options: list[str],
    said: str,
) -> None:
    url, module = paused_run(tmp_path, tools_file)
    scripted_model(scripted([]))

    status, _, err = cli(
        capsys, "runs", "resume", "invoice-42", "--journal", url, "--tools", str(tools_file),
        *options,
    )  # fmt: skip
    assert status == 2
    assert said in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert module.RAN == ["lookup 42"]
    shown = cli_json(capsys, "runs", "show", "invoice-42", "--journal", url)
    assert shown["status"] == "paused"  # let go again, as it was


# -- hostile journals ------------------------------------------------------------------------


def damage(path: Path) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute(
            "UPDATE volley_records SET data = ? WHERE run_id = 'invoice-42' AND seq = 1",
            ('{"kind": "turn", "turn": "one"}',),
        )


def not_sqlite(tmp_path: Path, tools_file: Path) -> str:
    (tmp_path / "notes.txt").write_text("these are not the runs you are looking for\n" * 100)
    return f"sqlite:///{tmp_path}/notes.txt"


def other_database(tmp_path: Path, tools_file: Path) -> str:
    with sqlite3.connect(tmp_path / "shop.db") as conn:
        conn.execute("CREATE TABLE orders (id INTEGER)")
    return f"sqlite:///{tmp_path}/shop.db"


def empty_file(tmp_path: Path, tools_file: Path) -> str:
    (tmp_path / "empty.db").write_bytes(b"")
    return f"sqlite:///{tmp_path}/empty.db"


def missing(tmp_path: Path, tools_file: Path) -> str:
    return f"sqlite:///{tmp_path}/nowhere.db"


def folder(tmp_path: Path, tools_file: Path) -> str:
    return f"sqlite:///{tmp_path}"


@pytest.mark.parametrize(
    ("make", "said"),
    [
        (not_sqlite, "not a SQLite database"),
        (other_database, "not a volley journal"),
        (empty_file, "not a volley journal"),
        (missing, "no such file"),
        (folder, "is a folder"),
        (lambda tmp_path, tools_file: "memory", "memory journal"),
        (lambda tmp_path, tools_file: "mysql://x/y", "unknown journal"),
        (lambda tmp_path, tools_file: "sqlite://host/x.db", "sqlite:///relative"),
    ],
)
@pytest.mark.parametrize("action", ["list", "show", "resume"])
def test_a_bad_journal_is_one_line_and_exit_2(
    tmp_path: Path,
    tools_file: Path,
    capsys: pytest.CaptureFixture[str],
    make: Callable[[Path, Path], str],
    said: str,
    action: str,
) -> None:
    url = make(tmp_path, tools_file)
    argv = ["runs", action, "--journal", url] + ([] if action == "list" else ["invoice-42"])
    status, out, err = cli(capsys, *argv)
    assert status == 2
    assert err.startswith("error:")
    assert said in err
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in out + err
    if url.startswith("sqlite:///") and make is not folder:
        assert not (tmp_path / "nowhere.db").exists()  # nothing was made by looking


@pytest.mark.parametrize("action", ["show", "resume"])
def test_an_unknown_run_or_a_damaged_record_is_one_line_and_exit_2(
    tmp_path: Path, tools_file: Path, capsys: pytest.CaptureFixture[str], action: str
) -> None:
    url, _ = paused_run(tmp_path, tools_file)
    status, _, err = cli(capsys, "runs", action, "no-such-run", "--journal", url)
    assert status == 2
    assert "no run 'no-such-run'" in err
    assert len(err.strip().splitlines()) == 1

    damage(tmp_path / "runs.db")
    status, out, err = cli(capsys, "runs", action, "invoice-42", "--journal", url)
    assert status == 2
    assert err.startswith("error:")
    assert "record 1" in err
    assert "damaged" in err
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in out + err


def test_a_journal_with_tables_of_another_shape_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with sqlite3.connect(tmp_path / "odd.db") as conn:
        conn.execute("CREATE TABLE volley_runs (x TEXT)")
        conn.execute("CREATE TABLE volley_records (y TEXT)")
    status, _, err = cli(capsys, "runs", "list", "--journal", f"sqlite:///{tmp_path}/odd.db")
    assert status == 2
    assert "cannot be read" in err
    assert len(err.strip().splitlines()) == 1


def test_volley_run_records_in_a_journal_and_pauses_for_approval(
    tmp_path: Path,
    tools_file: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    scripted_model: Callable[[FunctionProvider], None],
) -> None:
    import volley.cli._run as run_module

    turns = [(ToolCall("c1", "lookup", {"id": "7"}), ToolCall("c2", "pay", {"id": "7"}))]
    real = run_module.Agent
    monkeypatch.setattr(run_module, "Agent", lambda _m, *a, **k: real(scripted(turns), *a, **k))
    url = f"sqlite:///{tmp_path}/runs.db"
    argv = ["run", "Pay 7", "--model", "x:y", "--tools", str(tools_file), "--journal", url]
    status, out, err = cli(capsys, *argv, "--run-id", "inv-7")
    assert status == 0, err
    assert "paused" in out
    assert "c2 pay" in out
    assert "volley runs resume inv-7" in out
    _, module = tools_of(tools_file)
    scripted_model(scripted(turns))
    status, out, err = cli(
        capsys, "runs", "resume", "inv-7", "--journal", url, "--tools", str(tools_file),
        "--approve", "c2",
    )  # fmt: skip
    assert status == 0, err
    assert module.RAN == ["pay 7"]  # the lookup's recorded result was used
    again = cli_json(capsys, "runs", "show", "inv-7", "--journal", url)
    assert again["status"] == "finished"
    status, out, err = cli(capsys, *argv, "--run-id", "inv-7")  # finished: recorded, not re-run
    assert status == 0, err
    assert module.RAN == ["pay 7"]
