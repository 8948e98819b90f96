"""Whatever the user gets wrong, the `volley` command says so in one line on stderr: no traceback.

Each case runs `volley.cli.main` as the command does; a few run as a real `python -m volley.cli`.
"""

from __future__ import annotations

import importlib
import math
import os
import re
import subprocess
import sys
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from _credentials import CREDENTIALS
from hypothesis import given
from hypothesis import strategies as st

from volley import __version__
from volley.bench import BENCHMARKS, EXTRAS, NEEDS, unavailable
from volley.cli import _parser, main

TOOLS = '''
from volley import tool


@tool(effects="read")
def hello(name: str) -> str:
    """Say hello."""
    return f"hello {name}"
'''


@pytest.fixture
def place(tmp_path: Path, no_keys: pytest.MonkeyPatch) -> Path:
    """A working folder with a tools file, a few broken ones and a trace, and no API keys."""
    no_keys.chdir(tmp_path)
    (tmp_path / "tools.py").write_text(TOOLS)
    (tmp_path / "broken.py").write_text("def oops(:\n")
    (tmp_path / "needs.py").write_text("import a_module_nobody_has\n")
    (tmp_path / "raises.py").write_text("raise RuntimeError('refused to load')\n")
    (tmp_path / "plain.py").write_text("x = 1\n")
    (tmp_path / "damaged.jsonl").write_text('{"type": "trace", "version": 1}\nnot json\n')
    (tmp_path / "empty.jsonl").write_text("")
    (tmp_path / "folder").mkdir()
    return tmp_path


def error_line(capsys: pytest.CaptureFixture[str]) -> str:
    """The one line the command wrote, on stderr, which must be an `error:` (stdout: nothing)."""
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: "), err
    assert out == ""
    return lines[0]


CASES: list[tuple[list[str], str, int]] = [
    # --tools
    (["run", "hi", "--model", "openai:gpt", "--tools", "os:missing"], "os has no attribute", 2),
    (["run", "hi", "--model", "openai:gpt", "--tools", "tools.py:nope"], "(its tools: hello)", 2),
    (
        ["run", "hi", "--model", "openai:gpt", "--tools", "./absent.py"],
        "absent.py: no such file",
        2,
    ),
    (["run", "hi", "--model", "openai:gpt", "--tools", "sub/dir/x.py"], "x.py: no such file", 2),
    (["run", "hi", "--model", "openai:gpt", "--tools", "folder/"], "not a file", 2),
    (["run", "hi", "--model", "openai:gpt", "--tools", "broken.py"], "broken.py: SyntaxError", 2),
    (["run", "hi", "--model", "m:x", "--tools", "needs.py"], "No module named 'a_module_no", 2),
    (["run", "hi", "--model", "openai:gpt", "--tools", "raises.py"], "RuntimeError: refused", 2),
    (["run", "hi", "--model", "openai:gpt", "--tools", "plain.py"], "holds no volley tool", 2),
    (
        ["run", "hi", "--model", "openai:gpt", "--tools", "no_such_mod"],
        "'no_such_mod': No module",
        2,
    ),
    (["run", "hi", "--model", "openai:gpt", "--tools", "json:dumps"], "json:dumps holds no", 2),
    (["run", "hi", "--model", "openai:gpt", "--tools", ".rel"], "cannot import tools module", 2),
    # the model string and its key
    (["run", "hi", "--model", "claude", "--tools", "tools.py"], "write <provider>:<model>", 2),
    (["run", "hi", "--model", "anthropic:claude-x", "--tools", "tools.py"], "ANTHROPIC_API_KEY", 2),
    (["run", "hi", "--model", "openai-responses:g", "--tools", "tools.py"], "OPENAI_API_KEY", 2),
    (["run", "hi", "--model", "gemini:g", "--tools", "tools.py"], "set GEMINI_API_KEY or GOOG", 2),
    (
        ["run", "hi", "--model", "openai-compatible:http://h:1", "--tools", "tools.py"],
        "no model",
        2,
    ),
    (["demo", "--provider", "anthropic"], "ANTHROPIC_API_KEY", 2),
    (["demo", "--provider", "openai"], "OPENAI_API_KEY", 2),
    # files to read and to write
    (
        ["run", "hi", "--model", "openai:g", "--tools", "tools.py", "--trace", "no/dir/t.jsonl"],
        "the folder no/dir does not exist",
        2,
    ),
    (["run", "hi", "--model", "openai:g", "--tools", "tools.py", "--trace", "folder"], "folder", 2),
    (["trace", "absent.jsonl"], "absent.jsonl: no such trace file", 2),
    (["trace", "folder"], "folder: is a folder, not a trace file", 2),
    (["trace", "damaged.jsonl"], "line 2", 1),
    (["trace", "empty.jsonl"], "not a volley trace", 1),
    (
        ["trace", "damaged.jsonl", "--html", "missing/dir/out.html"],
        "the folder missing/dir does not exist",
        2,
    ),
    (["trace", "damaged.jsonl", "--html", "folder"], "is a folder", 2),
]


@pytest.mark.parametrize(("argv", "says", "status"), CASES, ids=[" ".join(c[0]) for c in CASES])
def test_every_mistake_is_one_error_line(
    place: Path, capsys: pytest.CaptureFixture[str], argv: list[str], says: str, status: int
) -> None:
    assert main(argv) == status
    assert says in error_line(capsys)


def test_nothing_is_left_behind_by_a_run_that_could_not_start(
    place: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["run", "hi", "--model", "anthropic:x", "--tools", "tools.py", "--trace", "t.jsonl"]
    assert main(argv) == 2
    assert "ANTHROPIC_API_KEY" in error_line(capsys)
    assert not (place / "t.jsonl").exists()


def test_an_html_page_into_a_missing_folder_writes_nothing(
    place: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["trace", "damaged.jsonl", "--html", "out/page.html"]) == 2
    assert "the folder out does not exist; create it first" in error_line(capsys)
    assert not (place / "out").exists()


_scales = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["0", "-0", "nan", "-inf", "inf", "1e-320", "1e400", "0x10", "", "fast"]),
    st.text(max_size=6),
)


@given(_scales)
def test_a_scale_is_accepted_if_and_only_if_it_is_a_positive_finite_number(text: str) -> None:
    try:
        number = float(text)
    except ValueError:
        number = math.nan
    good = math.isfinite(number) and number > 0
    for command in (["bench", "--scale", text], ["demo", "--scale", text]):
        if good:
            assert _parser().parse_args(command).scale == number
        else:
            with pytest.raises(SystemExit) as stopped:
                _parser().parse_args(command)
            assert stopped.value.code == 2


@pytest.mark.parametrize("command", ["bench", "demo"])
@pytest.mark.parametrize("scale", ["0", "-1", "nan", "inf"])
def test_a_bad_scale_is_refused_before_anything_runs(
    capsys: pytest.CaptureFixture[str], command: str, scale: str
) -> None:
    with pytest.raises(SystemExit) as stopped:
        main([command, "--scale", scale])
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert (
        f"argument --scale: must be a positive, finite number of seconds, e.g. 0.02 (got '{scale}')"
        in err
    )


@given(st.integers(-5, 5).map(str) | st.text(max_size=4))
def test_max_turns_is_a_whole_number_of_at_least_one(text: str) -> None:
    argv = ["run", "hi", "--model", "m:x", "--max-turns", text]
    try:
        good = int(text) >= 1
    except ValueError:
        good = False
    if good:
        assert _parser().parse_args(argv).max_turns == int(text)
    else:
        with pytest.raises(SystemExit):
            _parser().parse_args(argv)


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["--version"])
    assert stopped.value.code == 0
    assert capsys.readouterr().out == f"volley {__version__}\n"


# -- a benchmark's extras, checked before any benchmark runs ---------------------------------


@pytest.fixture
def modules_as_they_were() -> Iterator[None]:
    """Undo every import a test makes or blocks, so that later tests see the same modules."""
    before = dict(sys.modules)
    yield
    for name in set(sys.modules) - set(before):
        del sys.modules[name]
    sys.modules.update(before)


def block(monkeypatch: pytest.MonkeyPatch, *modules: str) -> None:
    """Make `import module` fail as it does when its package is not installed."""
    for module in modules:
        for name in [m for m in sys.modules if m.startswith(f"{module}.")]:
            monkeypatch.setitem(sys.modules, name, None)  # a cached submodule would be found
        monkeypatch.setitem(sys.modules, module, None)


def test_bench_without_the_sim_extra_stops_before_running_anything(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], modules_as_they_were: None
) -> None:
    ran: list[str] = []
    monkeypatch.setattr("volley.bench._main.load", lambda name: ran.append(name))
    block(monkeypatch, *EXTRAS["sim"])
    assert main(["bench", "--quick"]) == 2
    assert ran == []
    # Where the tables would have gone (stdout; stderr with --json), and nothing else.
    assert capsys.readouterr().out == (
        "error: the roundtrips and streaming benchmarks need starlette, uvicorn: "
        "pip install 'volley-tools[sim]'\n"
    )
    assert main(["bench", "--quick", "--json", "streaming"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err == (
        "error: the streaming benchmark needs starlette, uvicorn: pip install 'volley-tools[sim]'\n"
    )
    # Those that need no extra still run.
    assert unavailable(["seeds", "dag", "conflicts", "fanout", "overhead"]) is None


def _extras_packages() -> list[tuple[str, str]]:
    """(extra, module) for every package the `anthropic` and `sim` extras install."""
    project = tomllib.loads((Path(__file__).parent.parent / "pyproject.toml").read_text())
    extras = project["project"]["optional-dependencies"]
    return [
        (extra, re.split(r"[<>=\[ ]", requirement)[0])
        for extra in ("anthropic", "sim")
        for requirement in extras[extra]
    ]


@pytest.mark.parametrize("name", BENCHMARKS)
@pytest.mark.parametrize(("extra", "module"), _extras_packages())
def test_the_check_knows_every_extra_a_benchmark_imports(
    monkeypatch: pytest.MonkeyPatch, modules_as_they_were: None, name: str, extra: str, module: str
) -> None:
    # Import the benchmark afresh with `module` missing: it imports iff the check passes it.
    for loaded in list(sys.modules):
        if loaded.startswith(("volley.sim", f"volley.bench.{name}")):
            monkeypatch.delitem(sys.modules, loaded)
    block(monkeypatch, module)
    problem = unavailable([name])
    if problem is None:
        importlib.import_module(f"volley.bench.{name}")
    elif extra in NEEDS.get(name, ()):
        # Named as missing; or, when a package of another extra it needs imports it (anthropic
        # imports httpx2) and has not been imported yet, that package is named first.
        others = [f"pip install 'volley-tools[{own}]'" for own in NEEDS[name] if own != extra]
        named = f"needs {module}: pip install 'volley-tools[{extra}]'" in problem
        assert named or any(other in problem for other in others), problem
        if _imports_at_top(name, module):  # else it is imported when run (the demo's model)
            with pytest.raises(ImportError):
                importlib.import_module(f"volley.bench.{name}")
    else:  # a package another extra of the benchmark needs too (httpx2: the MCP SDK's), which
        # that extra's own package, already imported here, may no longer import afresh
        assert any(f"pip install 'volley-tools[{own}]'" in problem for own in NEEDS[name])


def _imports_at_top(benchmark: str, module: str) -> bool:
    """Whether the benchmark's own module imports `module` when it is imported."""
    source = (Path(__file__).parent.parent / "src/volley/bench" / f"{benchmark}.py").read_text()
    return re.search(rf"^(from|import) {re.escape(module)}\b", source, re.MULTILINE) is not None


# -- as a real process -------------------------------------------------------------------------


def volley(
    place: Path, *argv: str, env: Callable[[dict[str, str]], None] = lambda e: None
) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k not in CREDENTIALS}
    environ["HOME"] = str(place)
    env(environ)
    return subprocess.run(
        [sys.executable, "-m", "volley.cli", *argv],
        cwd=place,
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (
            ["run", "hi", "--model", "anthropic:claude-x", "--tools", "tools.py"],
            "ANTHROPIC_API_KEY",
        ),
        (["run", "hi", "--model", "openai:gpt", "--tools", "path/to/tools.py"], "no such file"),
        (["trace", "run.jsonl", "--html", "missing/dir/out.html"], "the folder missing/dir"),
    ],
)
def test_no_traceback_reaches_stderr_of_the_real_command(
    place: Path, argv: list[str], says: str
) -> None:
    (place / "run.jsonl").write_text('{"type": "trace", "version": 1}\n')
    done = volley(place, *argv)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith("error: ")
    assert says in done.stderr
    assert done.stdout == ""
