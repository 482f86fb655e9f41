"""godel.sandbox's imports point one way: no cycle, one module that knows every backend, nothing from above.

Every import counts: module level, inside functions and under ``TYPE_CHECKING``. ``from godel.sandbox import x``
inside the package counts as importing the package itself (its ``__init__`` runs first and imports nearly all).
"""

from __future__ import annotations

import ast
from pathlib import Path

import godel.sandbox

PACKAGE = Path(godel.sandbox.__file__).resolve().parent
BACKENDS = {"godel.sandbox._zygote", "godel.sandbox._subprocess", "godel.sandbox._wasm"}
# The layers below godel.sandbox (see the layering in the project's design notes).
BELOW = {
    "godel.telemetry", "godel.archive", "godel.task", "godel.progress", "godel.candidate", "godel.config",
    "godel.errors", "godel.redact", "godel._syntax", "godel._harness",
}  # fmt: skip
# Loaded by file path into the fork server and exec mode's fresh interpreter: standard library and each other only.
BY_PATH = {"godel.sandbox._linux", "godel.sandbox._zygote_child", "godel.sandbox._zygote_server"}


def _module_name(path: Path) -> str:
    parts = ["godel", "sandbox", *path.relative_to(PACKAGE).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports() -> dict[str, set[str]]:
    """Module -> every godel module it imports."""
    graph: dict[str, set[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add(node.module)
        graph[_module_name(path)] = {name for name in found if name == "godel" or name.startswith("godel.")}
    return graph


def _owner(name: str) -> str:
    """The godel package (or leaf module) an import belongs to: godel.telemetry._metrics -> godel.telemetry."""
    return ".".join(name.split(".")[:2])


def test_no_import_cycle_inside_the_package() -> None:
    graph = _imports()
    inside = {m: {i for i in deps if i in graph} for m, deps in graph.items()}
    state: dict[str, str] = {}
    stack: list[str] = []

    def visit(module: str) -> None:
        state[module] = "open"
        stack.append(module)
        for dep in sorted(inside[module]):
            if state.get(dep) == "open":
                cycle = [*stack[stack.index(dep) :], dep]
                raise AssertionError(f"import cycle: {' -> '.join(cycle)}")
            if dep not in state:
                visit(dep)
        stack.pop()
        state[module] = "done"

    for module in sorted(inside):
        if module not in state:
            visit(module)


def test_only_the_factory_knows_every_backend() -> None:
    graph = _imports()
    importers = {m for m, deps in graph.items() if deps & BACKENDS and m not in BACKENDS}
    # The package __init__ re-exports the backend classes; the conformance suite is tested per backend elsewhere.
    assert importers <= {"godel.sandbox", "godel.sandbox._factory"}, importers
    assert graph["godel.sandbox._factory"] >= BACKENDS
    assert not graph["godel.sandbox._doctor"] & BACKENDS


def test_nothing_from_above() -> None:
    for module, deps in _imports().items():
        outside = {_owner(d) for d in deps if not d.startswith("godel.sandbox")}
        assert outside <= BELOW, (module, outside - BELOW)


def test_modules_loaded_by_path_import_only_each_other() -> None:
    graph = _imports()
    for module in BY_PATH:
        assert graph[module] <= BY_PATH, (module, graph[module] - BY_PATH)
