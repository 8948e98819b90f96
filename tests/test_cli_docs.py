"""The command line page (docs/reference/cli.md) and `volley <command> --help` say the same.

For every command, the options its help lists are the options the page's table lists, each
default the help states is in that option's row, and so is each of its choices.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from volley.cli import main

PAGE = Path(__file__).resolve().parent.parent / "docs" / "reference" / "cli.md"
COMMANDS = ("demo", "run", "bench", "trace", "runs list", "runs show", "runs resume")
OPTION = re.compile(r"--[a-z][a-z-]*")
ROW = re.compile(r"^\| (.+?) \| (.+?) \| (.+) \|$", flags=re.MULTILINE)


def help_of(
    command: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> str:
    monkeypatch.setenv("COLUMNS", "100")
    with pytest.raises(SystemExit) as stopped:
        main([*command.split(), "--help"])
    assert stopped.value.code == 0
    return capsys.readouterr().out


def entries(help_text: str) -> dict[str, str]:
    """Each option (and positional argument) of a help text -> its help, on one line."""
    found: dict[str, str] = {}
    name = None
    for line in help_text.splitlines():
        head = re.match(r"^  (\S.*?)(?:\s{2,}(.*))?$", line)
        if head and not line.startswith("   "):
            names = OPTION.findall(head[1]) or [head[1].split()[0]]
            name = names[-1]
            found[name] = head[2] or ""
        elif name is not None and line.startswith("    ") and line.strip():
            found[name] += " " + line.strip()
        elif not line.strip():
            name = None
    found.pop("--help", None)
    return {key: " ".join(value.split()) for key, value in found.items()}


def defaults(text: str) -> list[str]:
    """What each `(default ...)` of a help text says, up to its first ':' or ';'."""
    said = []
    for inside in re.findall(r"\(default:? (.*?)\)", text):
        value = re.split(r": |; ", inside)[0].strip()
        said.append(value)
    return said


def section(command: str) -> str:
    """The page's part for `volley <command>`: from its heading to the next heading."""
    text = PAGE.read_text(encoding="utf-8")
    heading = re.search(rf"^#+ `volley {command}`$", text, flags=re.MULTILINE)
    assert heading, f"docs/reference/cli.md has no heading for `volley {command}`"
    rest = text[heading.end() :]
    following = re.search(r"^#+ ", rest, flags=re.MULTILINE)
    return rest[: following.start()] if following else rest


def rows(command: str) -> dict[str, tuple[str, str]]:
    """Each option of the page's table for `command` -> (its default cell, its whole row)."""
    found = {}
    for first, default, what in ROW.findall(section(command)):
        if first in ("option", "---"):
            continue
        names = OPTION.findall(first) or [first.strip("`").split()[0]]
        row = " ".join(f"{first} {default} {what}".replace("`", "").split())
        found[names[0]] = (" ".join(default.replace("`", "").split()), row)
    return found


@pytest.mark.parametrize("command", COMMANDS)
def test_the_page_lists_the_options_the_help_lists(
    command: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    shown = {
        name for name in entries(help_of(command, capsys, monkeypatch)) if name.startswith("--")
    }
    documented = {name for name in rows(command) if name.startswith("--")}
    assert shown == documented, (
        f"volley {command}: only in --help {sorted(shown - documented)}, "
        f"only on the page {sorted(documented - shown)}"
    )


@pytest.mark.parametrize("command", COMMANDS)
def test_the_page_states_the_defaults_and_choices_the_help_states(
    command: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    documented = rows(command)
    for name, text in entries(help_of(command, capsys, monkeypatch)).items():
        assert name in documented, f"volley {command}: {name} is not on the page"
        default_cell, row = documented[name]
        for value in defaults(text):
            assert value in default_cell, (
                f"volley {command} {name}: the help says (default {value}), "
                f"the page says {default_cell!r}"
            )
        for choices in re.findall(r"\{([\w,-]+)\}", text + " " + name):
            for choice in choices.split(","):
                assert choice in row, f"volley {command} {name}: the page does not name {choice}"


def test_the_page_names_every_benchmark(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    text = entries(help_of("bench", capsys, monkeypatch))["NAME"]
    listed = re.search(r"run only these of: (.*?) \(default", text)
    assert listed
    _, row = rows("bench")["NAME"]
    for name in listed[1].split(", "):
        assert name in row, f"the page's NAME row does not name the benchmark {name}"


def test_every_command_has_a_section(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    listed = re.findall(r"^    (\w+)\s{2,}", capsys.readouterr().out, flags=re.MULTILINE)
    assert set(listed) == {"demo", "bench", "run", "runs", "trace"}
    for command in listed:
        section(command)
