"""The layout is the architecture: imports point one way, rooms stay small, private Keras API
stays in its one marked place. Read from the source with ast, lazy imports included."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "mnist_doctor"
MAX_LINES = 300

# Which rooms each room may import (besides itself). The data flow, config -> data/model ->
# train -> execution, and runs on disk -> doctor -> report -> cli; vocabulary is the leaf.
ALLOWED = {
    "vocabulary": set(),
    "config": {"vocabulary"},
    "data": {"config", "vocabulary"},
    "model": {"config", "vocabulary"},
    "runs": {"config", "vocabulary"},
    "train": {"config", "data", "model", "runs", "vocabulary"},
    "doctor": {"config", "runs", "vocabulary"},
    "execution": {"config", "data", "model", "train", "runs", "doctor", "vocabulary"},
    "report": {"config", "runs", "doctor", "vocabulary"},
    "bridges": {"config", "data", "model", "train", "runs", "doctor", "report", "vocabulary"},
    "cli": {"config", "data", "train", "runs", "doctor", "execution", "report", "vocabulary"},
    "__main__": {"cli"},
    "__init__": {"bridges"},
}
# The only modules that may import a deep-learning framework.
FRAMEWORK_IMPORTERS = {
    "tensorflow": {"train.tensorflow_backend", "bridges.callback", "bridges.tensorboard",
                   "bridges.probe"},
    "jax": {"train.jax_backend"},
    "keras": {"model.build", "model.losses", "model.metrics", "model.dropout",
              "model.counter_random",
              "data.mnist", "train.backends",
              "train.jax_backend", "train.tensorflow_backend",
              "bridges.callback"},
}


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts = parts[:-1]
    return ".".join(parts)


def imports_of(path: Path, package: str, modules: set[str]) -> set[str]:
    """Every module of `package` that a file imports, at any depth (lazy imports count).
    `from package.sub import name` counts package.sub.name when that is a module."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module != package and not node.module.startswith(package + "."):
                continue
            base = node.module[len(package) + 1:]
            for alias in node.names:
                child = f"{base}.{alias.name}" if base else alias.name
                found.add(child if child in modules else base or "__init__")
        elif isinstance(node, ast.Import):
            found |= {alias.name[len(package) + 1:] for alias in node.names
                      if alias.name.startswith(package + ".")}
    return found & modules


def import_graph(root: Path, package: str) -> dict[str, set[str]]:
    """module -> the modules of the package it imports (names relative to the package)."""
    paths = {module_name(path, root): path for path in root.rglob("*.py")}
    return {module: imports_of(path, package, set(paths)) - {module}
            for module, path in paths.items()}


def room(module: str) -> str:
    return module.split(".", 1)[0]


def backward_imports(graph: dict[str, set[str]], allowed: dict[str, set[str]]) -> list[str]:
    return sorted(f"{module} -> {target}" for module, targets in graph.items()
                  for target in targets
                  if room(target) != room(module) and room(target) not in allowed[room(module)])


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected component of more than one module (or a self-loop)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1 or node in graph.get(node, ()):
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycles():
    assert cycles(import_graph(PACKAGE, "mnist_doctor")) == []


def test_imports_point_one_way():
    graph = import_graph(PACKAGE, "mnist_doctor")
    assert {room(module) for module in graph} <= set(ALLOWED), "a new room needs a rule"
    assert backward_imports(graph, ALLOWED) == []


def test_the_checker_catches_a_cycle_and_a_backward_import(tmp_path):
    package = tmp_path / "pkg"
    for name, text in {"__init__.py": "", "config/__init__.py": "",
                       "config/schema.py": "def f():\n    from pkg.report import table\n",
                       "report/__init__.py": "",
                       "report/table.py": "from pkg.config.schema import f\n"}.items():
        (package / name).parent.mkdir(parents=True, exist_ok=True)
        (package / name).write_text(text)
    graph = import_graph(package, "pkg")
    assert cycles(graph) == [["config.schema", "report.table"]]
    assert backward_imports(graph, {"config": set(), "report": {"config"}, "__init__": set()}) \
        == ["config.schema -> report.table"]


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: p.name)
def test_modules_stay_small(path):
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{path.relative_to(PACKAGE)} has {lines} lines"


def test_every_package_says_what_it_owns():
    for init in PACKAGE.rglob("__init__.py"):
        docstring = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8")))
        assert docstring and len(docstring) > 40, f"{init.relative_to(PACKAGE)} has no docstring"


def test_frameworks_are_imported_only_where_training_happens():
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        module = module_name(path, PACKAGE)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([alias.name for alias in node.names] if isinstance(node, ast.Import)
                     else [node.module] if isinstance(node, ast.ImportFrom) and node.module
                     else [])
            for name in names:
                framework = name.split(".", 1)[0]
                if framework in FRAMEWORK_IMPORTERS \
                        and module not in FRAMEWORK_IMPORTERS[framework]:
                    offenders.append(f"{module} imports {name}")
                if name.startswith("keras.src"):
                    offenders.append(f"{module} uses private Keras API {name}")
    assert offenders == []
