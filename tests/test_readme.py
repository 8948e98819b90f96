"""The README's quick start runs as written and prints what the README says."""

from __future__ import annotations

import re
import runpy
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"


def test_quick_start_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)
    assert blocks, "the README has no python block"
    script = tmp_path / "quick_start.py"
    script.write_text(blocks[0])
    runpy.run_path(str(script), run_name="__main__")
    out = capsys.readouterr().out.splitlines()
    assert out[:4] == [
        "c1 False Sunny in Paris",
        "c2 False Sunny in Berlin",
        'c3 False {"a":1}',
        'c4 False {"a":2}',
    ]
    assert out[4] == (
        "c5 True Unknown tool 'get_wether'. Did you mean 'get_weather'? "
        "Available tools: get_weather, set_record."
    )
    assert out[5] == "{'a': 2}"
    assert re.fullmatch(r"\d+\.\dx parallelism, peak \d+", out[6])


def test_the_agent_on_the_simulator_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)
    assert len(blocks) >= 2, "the README has no agent example"
    script = tmp_path / "agent.py"
    script.write_text(blocks[1])
    runpy.run_path(str(script), run_name="__main__")
    out = capsys.readouterr().out.splitlines()
    assert out == ["Paris: Sunny in Paris. Berlin: Sunny in Berlin. [2, 0]"]
