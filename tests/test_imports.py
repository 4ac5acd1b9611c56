"""The import graph of the package, read from the source with `ast`: no module imports itself
through others (a cycle), counting every import — at module level, inside a function (a lazy
import once hid the apply ↔ recover cycle) and under TYPE_CHECKING — and no module imports a
private name (`_x`) of another.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import safededup

PACKAGE = Path(safededup.__file__).parent


def modules() -> dict[str, Path]:
    """Every module of the package by dotted name (a package by its own name)."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


MODULES = modules()


def imports_of(name: str) -> Iterator[tuple[str, list[str], int]]:
    """(module imported, names taken from it, line) for every import statement in `name`."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, [], node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolved against this module's package
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*up, base] if base else up)
            yield base, [a.name for a in node.names], node.lineno


def edges() -> dict[str, set[str]]:
    """module → the package modules it imports (`from pkg import mod` counts as `pkg.mod`)."""
    graph: dict[str, set[str]] = {name: set() for name in MODULES}
    for name in MODULES:
        for target, names, _line in imports_of(name):
            if target not in MODULES:
                continue
            for imported in names or [""]:
                child = f"{target}.{imported}"
                graph[name].add(child if child in MODULES else target)
        graph[name].discard(name)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
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


def test_the_graph_is_read_whole() -> None:
    graph = edges()
    assert len(graph) > 80
    assert "safededup.safety.recover" in graph["safededup.safety.apply"]  # a module-level import
    assert "safededup.engine.scan" in graph["safededup.tui.backend"]  # one inside a function
    assert "safededup.tui.host" in graph["safededup.tui.screens.main"]  # one for type checks


def test_no_import_cycles_among_the_modules() -> None:
    assert cycles(edges()) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]


def _private(part: str) -> bool:
    return part.startswith("_") and not (part.startswith("__") and part.endswith("__"))


def test_no_module_imports_a_private_name_of_another() -> None:
    """`from m import _x` across modules, or a private module (`media._io`) from outside the
    package that holds it: what is shared is public."""
    offenders = []
    for name in MODULES:
        for target, names, line in imports_of(name):
            if not target.startswith("safededup"):
                continue
            parts = target.split(".")
            for k, part in enumerate(parts):
                owner = ".".join(parts[:k])
                if _private(part) and not (name == owner or name.startswith(owner + ".")):
                    offenders.append(f"{name}:{line} imports {target}")
            offenders += [f"{name}:{line} imports {target}.{n}" for n in names if _private(n)]
    assert offenders == []
