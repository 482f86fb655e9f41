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
import warnings

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


def syntax_error(text: str, filename: str = "<program>") -> SyntaxError | None:
    """The ``SyntaxError`` that compiling ``text`` raises, or None when it compiles.

    Compiling (not just parsing) also catches what the symbol table rejects, such as a duplicate argument name or
    ``return`` outside a function, so such edits fail at proposal time instead of in the sandbox.
    """
    try:
        with _AST_LOCK, warnings.catch_warnings():
            warnings.simplefilter("ignore", SyntaxWarning)  # `x is 1` compiles; warnings are not our verdict
            compile(text, filename, "exec", dont_inherit=True)
    except SyntaxError as exc:
        return exc
    except ValueError as exc:  # source with NUL bytes
        return SyntaxError(str(exc))
    return None
