"""The floors: ``hub`` at the bottom, ``training`` and ``export`` on it side by side, ``serving`` on ``export`` and
``hub``; no module imports another that (directly or not) imports it back, lazily or not; computations do not
import matplotlib; the bento does not ship the trainer."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
PACKAGES = ("hub", "training", "export", "serving")
ALLOWED = {"hub": set(), "training": {"hub"}, "export": {"hub"}, "serving": {"hub", "export"}}


def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            found[name.removesuffix(".__init__")] = path
    return found


def imports(path: Path) -> set[str]:
    """Every module an ``import`` statement anywhere in the file names (top-level or inside functions)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
    return names


GRAPH = {name: {m for m in imports(path) if m in modules() and m != name} for name, path in modules().items()}


@pytest.mark.parametrize("package", PACKAGES)
def test_each_floor_imports_only_the_floors_below(package):
    wrong = sorted(f"{a} -> {b}" for a, targets in GRAPH.items() if a.split(".")[0] == package for b in targets
                   if b.split(".")[0] not in ALLOWED[package] | {package})
    assert not wrong, wrong


def test_no_import_cycles():
    index, low, stack, on_stack, cycles = {}, {}, [], set(), []

    def visit(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in GRAPH[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while not component or component[-1] != node:
                component.append(stack.pop())
                on_stack.discard(component[-1])
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in GRAPH:
        if node not in index:
            visit(node)
    assert not cycles, cycles


def test_computations_do_not_import_matplotlib():
    plotting = [name for name, path in modules().items() if "matplotlib" in {m.split(".")[0] for m in imports(path)}]
    allowed = ("training.analyze.plots", "training.outputs", "serving.diagnostics")
    assert all(name.startswith(allowed) for name in plotting), plotting


def test_the_bento_ships_no_trainer():
    text = (ROOT / "bentofile.yaml").read_text()
    assert "training/" not in text and "serving/**/*.py" in text and "export/**/*.py" in text
