"""Thread-safe ``ast.parse``.

CPython 3.11 keeps the AST constructor's recursion counter in per-interpreter state: when the garbage collector runs
a finalizer in the middle of one thread's ``ast.parse`` and another thread parses meanwhile, the first raises
``SystemError: AST constructor recursion depth mismatch`` (python/cpython#106905; reproduced here under the
engine's worker threads). Every ``ast.parse`` that can run in a worker thread must go through :func:`parse_python`
so they all share one lock.
"""

from __future__ import annotations

import ast
import threading

__all__ = ["parse_expression", "parse_python", "syntax_error"]

# Reentrant: a finalizer that parses, run by the collector inside a parse on the same thread, must not deadlock.
_AST_LOCK = threading.RLock()


def parse_python(text: str, filename: str = "<program>") -> ast.Module:
    """``ast.parse(text)`` serialised with every other parse in the process; raises ``SyntaxError``."""
    with _AST_LOCK:
        return ast.parse(text, filename=filename)


def parse_expression(text: str) -> ast.expr:
    """The expression ``text`` (``ast.parse(mode="eval")``), serialised like :func:`parse_python`."""
    with _AST_LOCK:
        return ast.parse(text, mode="eval").body


def syntax_error(text: str) -> SyntaxError | None:
    """The ``SyntaxError`` that parsing ``text`` raises, or None when it parses."""
    try:
        parse_python(text)
    except SyntaxError as exc:
        return exc
    return None
