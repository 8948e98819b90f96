"""The documentation's code runs as written, and the reference covers every public name.

Each page under `docs/` is run as one script: its ```python blocks in order, in a fresh folder,
in a process of its own with no API key in its environment (so nothing can reach a real
provider; the simulator runs on loopback). The conventions a page follows:

- A block preceded by `<!-- not run: REASON -->` is shown, not run: it needs a real API key, a
  network service, a Ray cluster, or is a fragment of a larger program. The reason is required.
- A block with a file name as its title (```python title="weather_server.py"``, also JSON and
  other languages) is written to that file in the folder before the page runs, not executed.
- A ```text block preceded by `<!-- output -->` is what the page prints: its lines must appear
  in the output, in order.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from _credentials import CREDENTIALS

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.rglob("*.md"))

FENCE = re.compile(
    r"^(?P<indent>[ \t]*)```(?P<lang>[\w-]*)(?P<attrs>[^\n]*)\n(?P<body>.*?)^(?P=indent)```[ \t]*$",
    flags=re.MULTILINE | re.DOTALL,
)
MARKER = re.compile(r"<!--\s*(not run|output)\s*(?::\s*(?P<reason>.*?))?\s*-->\s*\Z")
TITLE = re.compile(r'title="(?P<title>[^"]+)"')


@dataclass(frozen=True)
class Block:
    """One fenced block of a page."""

    lang: str
    body: str
    title: str | None
    marker: str | None
    reason: str | None
    line: int


def blocks_of(page: Path) -> list[Block]:
    text = page.read_text(encoding="utf-8")
    found = []
    for match in FENCE.finditer(text):
        before = text[: match.start()].rstrip()
        marker = MARKER.search(before[-300:])
        title = TITLE.search(match["attrs"])
        indent = match["indent"]
        body = "".join(
            line[len(indent) :] if line.startswith(indent) else line
            for line in match["body"].splitlines(keepends=True)
        )
        found.append(
            Block(
                lang=match["lang"],
                body=body,
                title=title["title"] if title else None,
                marker=marker[1] if marker else None,
                reason=marker["reason"] if marker else None,
                line=text.count("\n", 0, match.start()) + 1,
            )
        )
    return found


def runnable(block: Block) -> bool:
    return block.lang == "python" and block.title is None and block.marker != "not run"


def page_id(page: Path) -> str:
    return str(page.relative_to(DOCS))


def test_there_are_pages_with_code() -> None:
    assert len(PAGES) >= 20
    assert sum(runnable(b) for page in PAGES for b in blocks_of(page)) >= 40


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_every_block_is_run_or_says_why_not(page: Path) -> None:
    for block in blocks_of(page):
        where = f"{page_id(page)}:{block.line}"
        if block.marker == "not run":
            assert block.lang == "python", f"{where}: only python blocks are run anyway"
            assert block.reason, f"{where}: say why the block is not run"
        if block.marker == "output":
            assert block.lang == "text", f"{where}: an output block is a text block"
        if block.lang == "python" and block.title is None:
            # shown or run, it is valid Python (a fragment may await at its top level)
            compile(block.body, where, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)


@pytest.mark.parametrize(
    "page",
    [page for page in PAGES if any(runnable(b) for b in blocks_of(page))],
    ids=page_id,
)
def test_the_page_runs(page: Path, tmp_path: Path) -> None:
    blocks = blocks_of(page)
    for block in blocks:
        if block.title is not None:
            (tmp_path / block.title).write_text(block.body, encoding="utf-8")
    script = "\n\n".join(
        f"# {page_id(page)}:{block.line}\n{block.body}" for block in blocks if runnable(block)
    )
    (tmp_path / "page_script.py").write_text(script, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k not in CREDENTIALS}
    env.update(HOME=str(tmp_path), PYTHONPATH=str(tmp_path), NO_COLOR="1", COLUMNS="100")
    done = subprocess.run(
        [sys.executable, "-W", "default::ResourceWarning", "page_script.py"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=100,
    )
    assert done.returncode == 0, f"{page_id(page)} failed:\n{done.stdout}\n{done.stderr}"
    assert "ResourceWarning" not in done.stderr, done.stderr
    printed = [line.rstrip() for line in done.stdout.splitlines()]
    position = 0
    for block in blocks:
        if block.marker != "output":
            continue
        for expected in block.body.splitlines():
            expected = expected.rstrip()
            if not expected:
                continue
            while position < len(printed) and printed[position] != expected:
                position += 1
            assert position < len(printed), (
                f"{page_id(page)}:{block.line}: {expected!r} was not printed (in order); "
                f"the page printed:\n{done.stdout}"
            )
            position += 1


# The public names: every name in these modules' __all__ has a reference entry (`::: module.name`
# on a page under docs/reference/), and an example: a python block on that page that uses it, or
# an example in its own docstring.
PUBLIC_MODULES = (
    "volley",
    "volley.providers",
    "volley.providers.anthropic",
    "volley.providers.openai_chat",
    "volley.providers.openai_responses",
    "volley.providers.gemini",
    "volley.providers.streams",
    "volley.sim",
    "volley.mcp",
    "volley.journal",
    "volley.trace",
    "volley.trace.otel",
    "volley.integrations.langgraph",
    "volley.integrations.langchain",
    "volley.integrations.pydantic_ai",
    "volley.ray",
)
REFERENCE = DOCS / "reference"
ENTRY = re.compile(r"^::: ([\w.]+)", flags=re.MULTILINE)


def public_names() -> list[tuple[str, str]]:
    names = []
    for module in PUBLIC_MODULES:
        for name in importlib.import_module(module).__all__:
            names.append((module, name))
    return names


def entries() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for page in sorted(REFERENCE.glob("*.md")):
        for path in ENTRY.findall(page.read_text(encoding="utf-8")):
            found[path] = page
    return found


def used_in(code: str, name: str) -> bool:
    """Whether `code` uses `name` (a name, an attribute, or an import of it)."""
    tree = ast.parse(code)
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id == name:
            return True
        if isinstance(node, ast.Attribute) and node.attr == name:
            return True
        if isinstance(node, ast.alias) and node.name == name:
            return True
        if isinstance(node, ast.Constant) and node.value == name:
            return True
    return False


def docstring_example(module: str, name: str) -> bool:
    obj = getattr(importlib.import_module(module), name)
    doc = inspect.getdoc(obj) if inspect.isclass(obj) or callable(obj) else None
    return bool(doc) and bool(re.search(r"^Examples?:\s*$", doc or "", flags=re.MULTILINE))


@pytest.mark.parametrize(("module", "name"), public_names(), ids=lambda x: x)
def test_every_public_name_has_an_entry_with_an_example(module: str, name: str) -> None:
    known = entries()
    path = f"{module}.{name}"
    assert path in known, f"no reference entry `::: {path}` under docs/reference/"
    page = known[path]
    code = [b.body for b in blocks_of(page) if b.lang == "python" and b.title is None]
    assert any(used_in(body, name) for body in code) or docstring_example(module, name), (
        f"{path}: no example on {page.relative_to(ROOT)} uses it, and its docstring has none"
    )


def is_module(path: str) -> bool:
    try:
        importlib.import_module(path)
    except ImportError:
        return False
    return True


def test_reference_entries_name_public_names_only() -> None:
    public = {f"{module}.{name}" for module, name in public_names()}
    extra = {path for path in set(entries()) - public if not is_module(path)}
    assert not extra, f"entries for names outside the modules' __all__: {sorted(extra)}"


# The architecture page's layers, checked against the code: every module of src/volley/ is in
# one layer, and imports only from its own layer and the layers below it (imports made only for
# type checking, under `if TYPE_CHECKING:`, are exempt).
SOURCE = ROOT / "src" / "volley"
LAYER_ROW = re.compile(r"^\| (\d+)\. [^|]+\| ([^|]+)\|", flags=re.MULTILINE)


def layers() -> dict[str, int]:
    text = (DOCS / "architecture.md").read_text(encoding="utf-8")
    found: dict[str, int] = {}
    for number, cell in LAYER_ROW.findall(text):
        for unit in re.findall(r"`([\w/]+)`", cell):
            assert unit not in found, f"{unit} is in two layers"
            found[unit] = int(number)
    return found


def unit_of(module: str) -> str | None:
    """`volley._agent` -> `_agent`, `volley.trace.otel` -> `trace/`, `volley` -> None."""
    parts = module.split(".")
    assert parts[0] == "volley", module
    if len(parts) == 1 or parts[1] == "__init__":
        return None
    return parts[1] if parts[1].startswith("_") else f"{parts[1]}/"


def imports_of(path: Path) -> list[str]:
    """The volley modules `path` imports, outside `if TYPE_CHECKING:` blocks."""
    relative = path.relative_to(SOURCE.parent).with_suffix("")
    package = list(relative.parts[:-1])  # a package's __init__ is in the package too
    found: list[str] = []

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                for stmt in child.orelse:
                    visit(stmt)
                continue
            if isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package[: len(package) - child.level + 1]
                    target = ".".join([*base, *(child.module.split(".") if child.module else [])])
                else:
                    target = child.module or ""
                if target == "volley" or target.startswith("volley."):
                    if child.level and child.module is None:  # from . import _x, or a name
                        for alias in child.names:
                            sub = SOURCE.parent.joinpath(*target.split("."), alias.name)
                            is_module = sub.with_suffix(".py").exists() or sub.is_dir()
                            found.append(f"{target}.{alias.name}" if is_module else target)
                    else:
                        found.append(target)
            elif isinstance(child, ast.Import):
                found.extend(a.name for a in child.names if a.name.startswith("volley"))
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    return found


def test_the_layers_of_the_architecture_page_hold_in_the_code() -> None:
    layer = layers()
    broken = []
    for path in sorted(SOURCE.rglob("*.py")):
        module = ".".join(path.relative_to(SOURCE.parent).with_suffix("").parts)
        unit = unit_of(module)
        if unit is None:  # volley/__init__.py: the public surface re-exports every layer
            continue
        assert unit in layer, f"{unit} ({path.name}) is in no layer of docs/architecture.md"
        for imported in imports_of(path):
            target = unit_of(imported)
            if target is None or target == unit:
                continue
            assert target in layer, f"{module} imports {imported}, which is in no layer"
            if layer[target] > layer[unit]:
                broken.append(
                    f"{module} (layer {layer[unit]}) imports {imported} (layer {layer[target]})"
                )
    assert not broken, "lower layers import higher ones:\n" + "\n".join(broken)


def test_the_readme_links_into_the_docs_resolve() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    links = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", readme)
    local = [link for link in links if not re.match(r"[a-z]+:", link)]
    assert any(link.startswith("docs/") for link in local)
    missing = [link for link in local if not (ROOT / link).exists()]
    assert not missing, f"README.md links to files that do not exist: {missing}"
