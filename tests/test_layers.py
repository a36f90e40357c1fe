"""The import contract of issue 12: layers import one way, and nothing imports in a circle.

Every module of ``learner``, ``collectors`` and ``outputs`` is read with :mod:`ast` (imports
inside functions count too) and each import of another module of ours is held against
:data:`LAYERS`. A layer may import itself and the layers below it; the packages that share a
layer are independent of each other unless :data:`ALLOWED` names the pair.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
PACKAGES = ("learner", "collectors", "outputs")

LAYERS: tuple[tuple[str, ...], ...] = (
    ("learner.cli",),
    ("learner.app", "learner.simulate"),
    ("learner.infer", "learner.ingest", "collectors", "outputs"),
    ("learner.semantics",),
    ("learner.model",),
)
"""Top to bottom: the command line, the application, the stages, the semantics engine, the model."""

ALLOWED: frozenset[tuple[str, str]] = frozenset()
"""Pairs of packages in one layer where the first may import the second."""

EXTRA_RULES: dict[str, tuple[str, ...]] = {
    "collectors": ("learner.model",),
}
"""Packages that may import even less than their layer allows: only these (besides themselves)."""


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def our_modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "_proto" not in path.parts:
                found[module_name(path)] = path
    return found


MODULES = our_modules()


def imported(path: Path) -> Iterator[tuple[int, str]]:
    """(line, module) for every import of one of our modules, resolved to a module that exists."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                yield node.lineno, full if full in MODULES else node.module


def unit(module: str) -> str | None:
    """The layered package a module belongs to (the longest prefix named in LAYERS)."""
    names = [name for layer in LAYERS for name in layer]
    matches = [n for n in names if module == n or module.startswith(n + ".")]
    return max(matches, key=len) if matches else None


def layer_of(package: str) -> int:
    return next(i for i, layer in enumerate(LAYERS) if package in layer)


def edges() -> Iterator[tuple[str, int, str]]:
    for module, path in MODULES.items():
        for line, target in imported(path):
            if target.split(".")[0] in PACKAGES and not target.startswith("collectors._proto"):
                yield module, line, target


def violations() -> list[str]:
    found = []
    for module, line, target in edges():
        source_unit, target_unit = unit(module), unit(target)
        if source_unit is None or target_unit is None or source_unit == target_unit:
            if source_unit is None and module not in ("learner", "collectors", "outputs"):
                found.append(f"{module}: in no layer")
            continue
        where = f"{MODULES[module].relative_to(ROOT)}:{line}: {module} imports {target}"
        upper, lower = layer_of(source_unit), layer_of(target_unit)
        if lower < upper:
            found.append(f"{where} (a higher layer)")
        elif lower == upper and (source_unit, target_unit) not in ALLOWED:
            found.append(f"{where} ({target_unit} is independent of {source_unit})")
        elif source_unit in EXTRA_RULES and target_unit not in EXTRA_RULES[source_unit]:
            found.append(f"{where} ({source_unit} imports only {EXTRA_RULES[source_unit]})")
    return sorted(set(found))


def cycles() -> list[list[str]]:
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for module, _, target in edges():
        if target in MODULES and target != module:
            graph[module].add(target)
    # Tarjan's strongly connected components
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_every_import_runs_down_the_layers() -> None:
    assert violations() == []


def test_no_modules_import_each_other_in_a_circle() -> None:
    assert cycles() == []


@pytest.mark.parametrize("package", [name for layer in LAYERS for name in layer])
def test_every_layer_exists(package: str) -> None:
    assert package in MODULES, f"{package} is named in LAYERS but is no package"


def test_no_module_is_imported_by_name_at_run_time() -> None:
    """Plain imports only: importlib hides an edge from readers, mypy and this contract."""
    found = []
    for path in MODULES.values():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            name = ""
            if isinstance(node, ast.Call):
                func = node.func
                name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in ("import_module", "__import__"):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert found == []
