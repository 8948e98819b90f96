"""`volley run --ray` and `volley runs resume --ray`: the tool bodies on a Ray cluster.

The cluster is `_ray`'s two nodes on loopback, and this process is connected to it: `--ray local`
uses that connection, `--ray ADDRESS` names it. The tools come from a file that the workers
cannot import (it is in the test's folder): the command sends its module by value.
"""

from __future__ import annotations

import os
import re
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _ray import RayCluster, ray_cluster, require_ray

ray = require_ray()

import volley.cli._run as run_module  # noqa: E402
import volley.cli._runs as runs_module  # noqa: E402
from volley import Agent, ModelTurn, ToolCall  # noqa: E402
from volley.cli import main  # noqa: E402
from volley.providers import FunctionProvider, ModelRequest  # noqa: E402

TOOLS = textwrap.dedent(
    '''
    import os

    from volley import tool


    def _where(tag: str) -> str:
        return f"{tag} ran in pid {os.getpid()}"


    @tool(effects="read")
    def whoami(tag: str) -> str:
        """Where a sync call runs."""
        return _where(tag)


    @tool(effects="read")
    async def whoami_async(tag: str) -> str:
        """Where an async call runs."""
        return _where(tag)


    @tool(writes=lambda a: [f"inv:{a['id']}"], requires_approval=True)
    def pay(id: str) -> str:
        """Pay an invoice (a person approves first)."""
        return _where(f"pay {id}")
    '''
)

PID = re.compile(r"ran in pid (\d+)")


def scripted(*calls: ToolCall) -> FunctionProvider:
    """One turn of `calls`, then an answer."""

    def respond(request: ModelRequest) -> ModelTurn:
        if any(isinstance(m, ModelTurn) for m in request.messages):
            return ModelTurn(text="Done.")
        return ModelTurn(calls=calls, stop="tool_calls")

    return FunctionProvider(respond, name="scripted")


@pytest.fixture(scope="module")
def cluster() -> Iterator[RayCluster]:
    with ray_cluster() as running:
        yield running


@pytest.fixture
def tools_file(tmp_path: Path) -> Path:
    path = tmp_path / "where_tools.py"
    path.write_text(TOOLS)
    return path


def use_model(monkeypatch: pytest.MonkeyPatch, module: Any, model: FunctionProvider) -> None:
    """Make the command's Agent talk to `model`, whatever --model says."""
    real = Agent

    def agent(_model: Any, *args: Any, **kwargs: Any) -> Agent:
        return real(model, *args, **kwargs)

    monkeypatch.setattr(module, "Agent", agent)


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out = capsys.readouterr()
    return status, out.out, out.err


def test_run_with_ray_local_runs_the_tool_bodies_in_ray_workers(
    cluster: RayCluster,
    tools_file: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls = (
        ToolCall("c1", "whoami", {"tag": "sync"}),
        ToolCall("c2", "whoami_async", {"tag": "async"}),
    )
    use_model(monkeypatch, run_module, scripted(*calls))

    tools = ["--tools", f"{tools_file}:whoami", "--tools", f"{tools_file}:whoami_async"]
    argv = ["run", "Where?", "--model", "x:y", *tools, "--ray", "local"]
    status, out, err = cli(capsys, *argv)

    assert status == 0, err
    assert "round trips" in out  # the figures of a run that finished
    pids = {int(pid) for pid in PID.findall(out)}
    assert len(PID.findall(out)) == 2, out  # both calls answered, neither an error
    assert os.getpid() not in pids
    assert ray.is_initialized()  # a connection the command did not make is left as it was


def test_runs_resume_with_ray_runs_the_approved_call_in_a_ray_worker(
    cluster: RayCluster,
    tools_file: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    model = scripted(ToolCall("c1", "whoami", {"tag": "look"}), ToolCall("c2", "pay", {"id": "7"}))
    use_model(monkeypatch, run_module, model)
    use_model(monkeypatch, runs_module, model)
    url = f"sqlite:///{tmp_path}/runs.db"
    tools = ["--tools", str(tools_file), "--journal", url, "--ray", cluster.address]

    status, out, err = cli(capsys, "run", "Pay 7", "--model", "x:y", *tools, "--run-id", "inv-7")
    assert status == 0, err
    assert "paused" in out
    (looked,) = PID.findall(out)

    status, out, err = cli(capsys, "runs", "resume", "inv-7", *tools, "--approve", "c2")
    assert status == 0, err
    (paid,) = re.findall(r"pay 7 ran in pid (\d+)", out)
    assert os.getpid() not in {int(looked), int(paid)}
    assert ray.is_initialized()


def test_without_the_ray_extra_it_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` fails as if not installed
    monkeypatch.delitem(sys.modules, "volley.ray", raising=False)

    status, out, err = cli(capsys, "run", "Hi", "--model", "x:y", "--ray", "local")
    assert status == 2
    assert err.strip() == "error: ray is not installed: pip install 'volley-tools[ray]'"
    assert out == ""

    status, out, err = cli(capsys, "bench", "ray", "--quick", "--ray", "auto")
    assert status == 2
    assert "the ray benchmark needs ray" in out
    assert "pip install 'volley-tools[" in out


def test_bench_ray_passes_its_address_to_the_benchmark(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import volley.bench._main as bench_main
    from volley.bench._harness import Goal, Report

    given: list[tuple[bool, str | None]] = []

    async def fake(quick: bool = False, address: str | None = None) -> Report:
        given.append((quick, address))
        return Report("ray", "fake", ["what"], rows=[["x"]], goals=[Goal("g", 1.0, 2.0)])

    monkeypatch.setattr(bench_main, "load", lambda name: fake)

    assert main(["bench", "ray", "--quick", "--ray", "10.0.0.5:6379"]) == 0
    assert main(["bench", "ray"]) == 0
    assert given == [(True, "10.0.0.5:6379"), (False, None)]
