"""Packages depend downward only: no import cycle between pgseek's packages and top-level modules.

A unit is a subpackage (``pgseek.db``, ``pgseek.search``...) or a top-level module (``pgseek.seek``); imports inside
``if TYPE_CHECKING:`` count too, since they are a dependency of the design all the same. Lazy imports inside
functions count as well.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pgseek

ROOT = Path(pgseek.__file__).parent
# Modules nothing imports back; the package's own __init__ re-exports the public API from everywhere.
ENTRY_POINTS = {"__init__", "__main__"}


def _unit(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "pgseek" or len(parts) < 2:
        return None
    return parts[1]


def _imports(path: Path) -> Iterator[str]:
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
            for alias in node.names:
                yield f"{node.module}.{alias.name}"
        elif isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in ROOT.rglob("*.py"):
        relative = path.relative_to(ROOT)
        unit = relative.parts[0].removesuffix(".py")
        if unit in ENTRY_POINTS:
            continue
        edges = graph.setdefault(unit, set())
        for module in _imports(path):
            target = _unit(module)
            if target is None or target == unit or target in ENTRY_POINTS:
                continue
            if (ROOT / target).is_dir() or (ROOT / f"{target}.py").is_file():
                edges.add(target)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    found: list[list[str]] = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                found.append([*stack[stack.index(target) :], target])
            elif target not in state:
                visit(target)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    return found


def test_no_cycle_between_packages() -> None:
    assert _cycles(_graph()) == []


def test_the_cycle_finder_finds_one() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c", "a"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_only_db_imports_the_driver() -> None:
    offenders = [
        str(path.relative_to(ROOT))
        for path in ROOT.rglob("*.py")
        if path.relative_to(ROOT).parts[0] != "db"
        and any(m == "psycopg" or m.startswith(("psycopg.", "psycopg_pool")) for m in _imports(path))
    ]
    assert offenders == []
