"""`volley run --mcp` and `--mcp-http`: MCP servers' tools next to local ones; errors, one line."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from _mcp import ROOT, free_port, http_server
from rich.console import Console

from tests._sim import sim_in_thread
from volley.cli import main
from volley.sim import parse_scenario

NOTES = f"{shlex.quote(sys.executable)} -m tests.mcp_servers.notes stdio"

# The model writes a note on the server, reads it back and asks a local tool, all in one turn:
# the read waits for the write (both on the server), the local tool runs alongside.
SCRIPT = json.dumps(
    {
        "turns": [
            {
                "text": "Noting.",
                "calls": [
                    {"name": "write_note", "arguments": {"key": "trip", "text": "pack"}},
                    {"name": "read_note", "arguments": {"key": "trip"}},
                    {"name": "get_weather", "arguments": {"city": "Oslo"}},
                ],
            },
            {"text": "Noted: {result[0]}, read back: {result[1]}, {result[2]}."},
        ]
    }
)
ONLY_MCP = json.dumps(
    {
        "turns": [
            {"calls": [{"name": "weather", "arguments": {"city": "Lima"}}]},
            {"text": "Server says: {result[0]}"},
        ]
    }
)


@pytest.fixture
def console(monkeypatch: pytest.MonkeyPatch) -> Console:
    console = Console(record=True, width=200, force_terminal=False)
    monkeypatch.setattr("volley.cli.Console", lambda **_: console)
    monkeypatch.chdir(ROOT)  # `python -m tests.mcp_servers.notes` is found from here
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    return console


def model_of(base_url: str) -> str:
    return f"openai-compatible:{base_url}/v1:sim-model"


def test_an_mcp_servers_tools_run_next_to_local_ones_and_are_shown(console: Console) -> None:
    with sim_in_thread(parse_scenario(SCRIPT), time_scale=0) as sim:
        argv = ["run", "--model", model_of(sim.base_url), "--mcp", NOTES, "--tools", "_cli_tools"]
        status = main([*argv, "note it"])
    out = console.export_text()
    assert status == 0, out
    assert "→ write_note" in out
    assert "✓ write_note" in out
    assert "✓ read_note" in out
    assert "✓ get_weather" in out
    # The read ran after the write the model wrote before it, on the same server.
    assert "Noted: wrote trip, read back: pack, sunny in Oslo." in out
    assert "2 round trips, calls per turn [3, 0]" in out
    assert len(sim.log[1].results) == 3


def test_mcp_servers_alone_are_tools_enough(
    console: Console, capsys: pytest.CaptureFixture[str]
) -> None:
    with sim_in_thread(parse_scenario(ONLY_MCP), time_scale=0) as sim:
        status = main(["run", "--model", model_of(sim.base_url), "--mcp", NOTES, "weather?"])
    out = console.export_text()
    assert status == 0, out
    assert "✓ weather" in out
    assert "Server says:" in out
    assert "Lima" in out
    assert "no --tools" not in capsys.readouterr().err  # no note: the model has tools


def test_a_server_over_streamable_http_and_the_trace_names_it(
    console: Console, tmp_path: Path
) -> None:
    recorded = tmp_path / "run.jsonl"
    with (
        http_server("tests.mcp_servers.notes") as (url, _),
        sim_in_thread(parse_scenario(ONLY_MCP), time_scale=0) as sim,
    ):
        argv = ["run", "--model", model_of(sim.base_url), "--mcp-http", url]
        status = main([*argv, "--trace", str(recorded), "weather?"])
    out = console.export_text()
    assert status == 0, out
    assert "✓ weather" in out
    header = json.loads(recorded.read_text().splitlines()[0])
    assert header["meta"]["mcp_servers"] == [url.split("//")[1].split("/")[0]]


def error_line(capsys: pytest.CaptureFixture[str]) -> str:
    """The one line the command wrote on stderr, an `error:` (no traceback, nothing on stdout)."""
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: "), err
    assert out == ""
    return lines[0]


@pytest.fixture
def quiet(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A working folder, and a model that is never asked (no key needed for a local URL)."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def closed_url() -> str:
    return f"http://127.0.0.1:{free_port()}/mcp"  # nothing listens there


NOT_JSON = f"{shlex.quote(sys.executable)} -c \"print('hello')\""
EXITS = f"{shlex.quote(sys.executable)} -c pass"
MODEL = "openai-compatible:http://127.0.0.1:9/v1:m"  # never reached: the servers fail first

CASES = [
    (["--mcp", "no-such-mcp-server-9"], "No such file or directory: 'no-such-mcp-server-9'"),
    (["--mcp-http", "<closed>"], "could not connect to the MCP server '127.0.0.1:"),
    (["--mcp", EXITS], "could not connect to the MCP server 'pass'"),
    (["--mcp", NOT_JSON], "Connection closed"),
    (["--mcp", ""], '--mcp needs a command, e.g. --mcp "uvx mcp-server-time"'),
    (["--mcp", "server 'unclosed"], "cannot split it as a shell would: No closing quotation"),
    (["--mcp-http", "ftp://example.org/mcp"], "starts with http:// or https://"),
]


@pytest.mark.parametrize(("options", "says"), CASES, ids=[" ".join(c[0]) for c in CASES])
def test_a_server_that_cannot_be_used_is_one_error_line_and_leaves_no_trace(
    quiet: Path, capsys: pytest.CaptureFixture[str], options: list[str], says: str
) -> None:
    options = [closed_url() if option == "<closed>" else option for option in options]
    argv = ["run", "--model", MODEL, *options, "--trace", "t.jsonl", "hi"]
    assert main(argv) == 2
    assert says in error_line(capsys)
    assert not (quiet / "t.jsonl").exists()


def test_the_servers_that_did_start_are_stopped_when_another_fails(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)  # so that the notes server does start (`-m tests.mcp_servers...`)
    argv = ["run", "--model", MODEL, "--mcp", NOTES, "--mcp", "no-such-mcp-server-9", "hi"]
    assert main(argv) == 2
    assert "no-such-mcp-server-9" in error_line(capsys)
    assert not notes_children()  # the notes server, which had started, is gone


def notes_children() -> list[int]:
    """This process's children that run the notes server (Linux: read from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes()
        except (OSError, ValueError):
            continue
        parent = int(stat.rpartition(")")[2].split()[1])
        if parent == os.getpid() and b"tests.mcp_servers.notes" in command:
            found.append(int(entry.name))
    return found


def test_without_the_mcp_extra_the_error_names_it(
    quiet: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "mcp", None)  # `import mcp` fails, as if not installed
    for name in [n for n in sys.modules if n == "volley.mcp" or n.startswith("volley.mcp.")]:
        monkeypatch.delitem(sys.modules, name)
    assert main(["run", "--model", MODEL, "--mcp", NOTES, "hi"]) == 2
    assert "pip install 'volley-tools[mcp]'" in error_line(capsys)


def test_the_real_command_prints_one_line_for_a_server_that_is_not_mcp(tmp_path: Path) -> None:
    # As a process, so that whatever the SDK logs would reach the real stderr.
    command = [sys.executable, "-m", "volley.cli", "run", "--model", MODEL, "--mcp", NOT_JSON]
    done = subprocess.run(
        [*command, "hi"], capture_output=True, text=True, cwd=tmp_path, timeout=120
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.splitlines() == [done.stderr.strip()], done.stderr
    assert done.stderr.startswith("error: could not connect to the MCP server")


def test_the_help_tells_of_mcp_servers(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert '--mcp "COMMAND ARGS..."' in text
    assert "--mcp-http URL" in text
