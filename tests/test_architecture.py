"""The layers are kept: the import-linter contracts in `.importlinter` hold, and no module of the
package imports itself back through others (no import cycle, even inside functions)."""

from __future__ import annotations

from pathlib import Path

import grimp
from importlinter.cli import lint_imports

from volley._parking import _components

ROOT = Path(__file__).resolve().parent.parent


def test_the_import_contracts_hold() -> None:
    assert lint_imports(config_filename=str(ROOT / ".importlinter")) == 0


def cycles(graph: grimp.ImportGraph) -> list[set[str]]:
    """The strongly connected groups of more than one module (volley's own Tarjan, the one that
    finds dependency cycles among parked calls)."""

    def imported(module: str) -> list[str]:
        return sorted(graph.find_modules_directly_imported_by(module))

    groups = _components(sorted(graph.modules), imported)
    return [set(group) for group in groups if len(group) > 1]


def test_no_module_imports_itself_back() -> None:
    graph = grimp.build_graph("volley", exclude_type_checking_imports=True)
    assert cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    graph = grimp.ImportGraph()
    for name in ("a", "a.b", "a.c", "a.d"):
        graph.add_module(name)
    graph.add_import(importer="a.b", imported="a.c")
    graph.add_import(importer="a.c", imported="a.b")
    graph.add_import(importer="a.c", imported="a.d")
    assert cycles(graph) == [{"a.b", "a.c"}]
