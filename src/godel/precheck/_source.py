"""Parsing and compiling a program's Python files once per text, shared by every check and the digest.

Each check runs on every proposal, and several of them look at the same child (and parent) text, so the parse, the
compile and the derived analyses are cached by the text itself. The cached values are read-only: no check changes a
tree it is given, which is what makes sharing them across the engine's threads safe.
"""

from __future__ import annotations

import ast
import functools
from dataclasses import dataclass

from godel._syntax import parse_python, syntax_error

__all__ = ["CACHE", "Fault", "compile_fault", "future_annotations", "is_python", "parsed", "source_line"]

# Entries per cache, keyed by file text: enough for the parents and children in flight and the seed; few enough
# that the cached trees do not slow the garbage collector's full passes.
CACHE = 64


@dataclass(frozen=True)
class Fault:
    """A syntax error, kept without its traceback (a cached exception would keep its frames alive)."""

    line: int | None
    column: int | None
    message: str


def is_python(path: str) -> bool:
    return path.endswith(".py")


def _fault(exc: SyntaxError) -> Fault:
    return Fault(exc.lineno, exc.offset, exc.msg or str(exc))


@functools.lru_cache(maxsize=CACHE)
def parsed(text: str) -> ast.Module | Fault:
    """The module's tree, or why it does not parse."""
    try:
        return parse_python(text)
    except SyntaxError as exc:
        return _fault(exc)
    except ValueError as exc:  # source with NUL bytes
        return Fault(None, None, str(exc))
    except (RecursionError, MemoryError):
        # The parser's own limits: CPython fails the same way when the sandbox imports the file.
        return Fault(None, None, "too deeply nested to parse")


@functools.lru_cache(maxsize=CACHE)
def compile_fault(text: str) -> Fault | None:
    """Why compiling the module fails (the symbol table's errors included), or None when it compiles."""
    try:
        exc = syntax_error(text)
    except (RecursionError, MemoryError):
        return Fault(None, None, "too deeply nested to compile")
    return None if exc is None else _fault(exc)


def future_annotations(tree: ast.Module) -> bool:
    """``from __future__ import annotations``: annotations are then never evaluated."""
    for stmt in tree.body:
        if isinstance(stmt, ast.ImportFrom) and stmt.module == "__future__":
            if any(alias.name == "annotations" for alias in stmt.names):
                return True
        elif not (isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant)):
            break  # future imports come first (after the docstring); the compiler rejects them later
    return False


def source_line(text: str, line: int | None) -> str:
    """Line ``line`` (1-based) of ``text``, stripped and shortened, for a reason a model can act on."""
    if line is None:
        return ""
    lines = text.splitlines()
    if not 0 < line <= len(lines):
        return ""
    shown = lines[line - 1].strip()
    return shown if len(shown) <= 100 else shown[:97] + "..."
