"""No import circles inside lstm_tui: the modules form layers a reader can take one at a time.

Read from the source with ``ast``, not by importing. Every import counts: at module level,
inside a function (deferred, to keep torch off the start-up path) and under
``if TYPE_CHECKING:`` alike. Python tolerates a circle that goes through a deferred or a
type-only import, but the two modules still know each other: neither can be read, tested or
moved alone. (The runtime graph, module level without TYPE_CHECKING, is checked too: a circle
there can also fail at import time.)
"""

from __future__ import annotations

import ast
from pathlib import Path

import lstm_tui

ROOT = Path(lstm_tui.__file__).parent


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in ROOT.rglob("*.py")}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def runtime_imports(body: list[ast.stmt]) -> list[ast.Import | ast.ImportFrom]:
    """The imports run when the module is imported: module level (in a top-level ``if`` or
    ``try`` too), not under ``if TYPE_CHECKING:``, not in functions."""
    found: list[ast.Import | ast.ImportFrom] = []
    for node in body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.append(node)
        elif isinstance(node, ast.If):
            if not _is_type_checking(node.test):
                found += runtime_imports(node.body)
            found += runtime_imports(node.orelse)
        elif isinstance(node, ast.Try):
            for block in (node.body, node.orelse, node.finalbody):
                found += runtime_imports(block)
            for handler in node.handlers:
                found += runtime_imports(handler.body)
        elif isinstance(node, ast.With):
            found += runtime_imports(node.body)
    return found


def every_import(tree: ast.Module) -> list[ast.Import | ast.ImportFrom]:
    return [n for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))]


def imports_of(name: str, runtime_only: bool = False) -> set[str]:
    """The lstm_tui modules ``name`` imports (with ``runtime_only``: when it is imported)."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    tree = ast.parse(path.read_text(), str(path))
    targets: set[str] = set()
    for node in runtime_imports(tree.body) if runtime_only else every_import(tree):
        if isinstance(node, ast.Import):
            targets |= {alias.name for alias in node.names}
            continue
        base = node.module or ""
        if node.level:  # relative: from . import x, from ..core import y
            anchor = package.split(".")
            anchor = anchor[: len(anchor) - (node.level - 1)]
            base = ".".join(anchor + ([base] if base else []))
        for alias in node.names:
            sub = f"{base}.{alias.name}"
            targets.add(sub if sub in MODULES else base)
    return {t for t in targets if t in MODULES and t != name}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_finder_sees_a_circle_and_skips_type_checking_imports() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []
    source = "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import x\nimport y\n"
    tree = ast.parse(source + "def f():\n    import z\n")
    assert [a.name for n in runtime_imports(tree.body) for a in n.names] == ["TYPE_CHECKING", "y"]
    assert {a.name for n in every_import(tree) for a in n.names} == {"TYPE_CHECKING", "x", "y", "z"}


def test_the_graph_is_read_from_the_real_modules() -> None:
    graph = {name: imports_of(name) for name in MODULES}
    assert "lstm_tui.core.errors" in graph["lstm_tui.core.jobs"]
    assert "lstm_tui.core.text.corpus" in graph["lstm_tui.core.jobs"]
    assert sum(len(targets) for targets in graph.values()) > 100


def test_no_import_circles_inside_lstm_tui() -> None:
    graph = {name: imports_of(name) for name in MODULES}
    assert cycles(graph) == []


def test_no_circles_in_what_importing_runs() -> None:
    graph = {name: imports_of(name, runtime_only=True) for name in MODULES}
    assert cycles(graph) == []
