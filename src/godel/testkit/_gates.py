"""Gate results, and the static gates of Stages A and B (checked on the proposal, before the sandbox).

A :class:`GateResult` is the one record every gate (static here, measured in :mod:`godel.testkit._evaluate`, and
the later stages' gates) produces; a candidate's gate results are stored with it as the ``gates`` artifact (a JSON
list of :meth:`GateResult.to_dict`) and one ``gate_<name>`` metric (1 passed, 0 failed).
"""

from __future__ import annotations

import ast
import difflib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

__all__ = [
    "GateResult",
    "api_gate",
    "changed_files",
    "changed_lines",
    "gates_artifact",
    "is_test_path",
    "lines_gate",
    "public_api",
    "scope_gate",
]


@dataclass(frozen=True)
class GateResult:
    """One gate's verdict: its name, whether it passed, what it measured (a short human text) and details."""

    name: str
    passed: bool
    measured: str
    details: Mapping[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "passed": self.passed,
            "measured": self.measured,
            "details": dict(self.details or {}),
        }

    def line(self) -> str:
        return f"{self.name}: {'pass' if self.passed else 'FAIL'} — {self.measured}"


def gates_artifact(results: Iterable[GateResult]) -> str:
    return json.dumps([r.to_dict() for r in results])


def is_test_path(path: str, tests_dir: str) -> bool:
    root = PurePosixPath(tests_dir.strip("/") or ".")
    return PurePosixPath(path).is_relative_to(root)


def changed_files(parent: Mapping[str, str], child: Mapping[str, str]) -> list[str]:
    return sorted(p for p in set(parent) | set(child) if parent.get(p) != child.get(p))


def changed_lines(parent: Mapping[str, str], child: Mapping[str, str]) -> int:
    """Lines added plus lines removed over every file."""
    total = 0
    for path in changed_files(parent, child):
        diff = difflib.unified_diff(
            parent.get(path, "").splitlines(), child.get(path, "").splitlines(), lineterm="", n=0
        )
        total += sum(1 for line in diff if line[:1] in "+-" and not line.startswith(("+++", "---")))
    return total


def scope_gate(
    parent: Mapping[str, str], child: Mapping[str, str], tests_dir: str, stage: str, max_files: int
) -> list[GateResult]:
    """Stage A: only files under the tests folder change; Stage B: only production files. At most ``max_files``."""
    changed = changed_files(parent, child)
    tests = [p for p in changed if is_test_path(p, tests_dir)]
    production = [p for p in changed if not is_test_path(p, tests_dir)]
    if stage == "A":
        scope = GateResult(
            "scope",
            not production,
            "only test files changed"
            if not production
            else f"production file(s) changed: {', '.join(production)}",
            {"changed": changed},
        )
    else:
        scope = GateResult(
            "scope",
            not tests,
            "only production files changed" if not tests else f"test file(s) changed: {', '.join(tests)}",
            {"changed": changed},
        )
    files = GateResult(
        "files",
        0 < len(changed) <= max_files,
        f"{len(changed)} file(s) changed (at most {max_files})",
        {"changed": changed},
    )
    return [scope, files]


def lines_gate(parent: Mapping[str, str], child: Mapping[str, str], limit: int) -> GateResult:
    n = changed_lines(parent, child)
    return GateResult("lines", n <= limit, f"{n} line(s) changed (at most {limit})", {"lines": n})


def _signature(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> str:
    prefix = "async def" if isinstance(fn, ast.AsyncFunctionDef) else "def"
    returns = f" -> {ast.unparse(fn.returns)}" if fn.returns is not None else ""
    return f"{prefix} {fn.name}({ast.unparse(fn.args)}){returns}"


def public_api(source: str) -> dict[str, str]:
    """Public top-level functions and classes and the public methods of those classes: name -> signature."""
    tree = ast.parse(source)
    api: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and not node.name.startswith("_"):
            api[node.name] = _signature(node)
        elif isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
            bases = ", ".join(ast.unparse(b) for b in node.bases)
            api[node.name] = f"class {node.name}({bases})"
            for item in node.body:
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef) and (
                    not item.name.startswith("_") or item.name == "__init__"
                ):
                    api[f"{node.name}.{item.name}"] = _signature(item)
    return api


def api_gate(parent: Mapping[str, str], child: Mapping[str, str], paths: Sequence[str]) -> GateResult:
    """Stage B: every public signature of the production modules ``paths`` the same in child and parent."""
    differences: list[str] = []
    for path in paths:
        if not path.endswith(".py") or parent.get(path) == child.get(path):
            continue
        if path not in child or path not in parent:
            differences.append(f"{path} {'removed' if path not in child else 'added'}")
            continue
        try:
            old, new = public_api(parent[path]), public_api(child[path])
        except SyntaxError as exc:
            differences.append(f"{path}: does not parse ({exc.msg})")
            continue
        for name in sorted(set(old) | set(new)):
            if old.get(name) != new.get(name):
                was, now = old.get(name, "(absent)"), new.get(name, "(absent)")
                differences.append(f"{path}: {name}: {was} -> {now}")
    return GateResult(
        "api",
        not differences,
        "public API unchanged" if not differences else f"public API changed: {'; '.join(differences[:3])}",
        {"differences": differences},
    )
