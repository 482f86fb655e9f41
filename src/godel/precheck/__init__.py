"""Cheap static checks of a proposal before the sandbox, and a code digest that sees through formatting.

The pipeline's precheck stage runs ``godel.engine.legal_edit`` first and then :data:`DEFAULT_PRECHECKS`, each a
``(task, parent, child) -> reason | None``; the first reason stops the child before it costs an evaluation, and
is fed back to the model that wrote it. Every check is built so that a correct program is never rejected — a miss
costs one evaluation, a false rejection loses a program — and judges only what the edit changed (a fault the
parent already had is not the child's):

* :func:`parses` — a changed Python file does not parse (line, message, the code);
* :func:`compiles` — it parses but the compiler rejects it (``return`` outside a function, duplicate argument...);
* :func:`names_defined` — a name read where nothing binds it (not assigned, imported, a parameter, a builtin...);
* :func:`locals_assigned_before_use` — a local read before any assignment can have run (UnboundLocalError);
* :func:`calls_fit_signatures` — a call from the frame, the evolved code or the evaluator that the edited
  definition no longer accepts, or a function the evaluator uses that the edit removed.

:func:`normalized_digest` is equal for programs whose Python files have the same syntax tree (whitespace, comments,
parentheses, literal spelling), so reformatted copies are found as duplicates before they are evaluated.

Parses, scopes and analyses are cached by file text, so the checks together cost little more than one parse of
the child (``benchmarks/precheck_bench.py`` measures them).
"""

from __future__ import annotations

from collections.abc import Callable

from godel.candidate import Program
from godel.precheck._checks import (
    calls_fit_signatures,
    compiles,
    locals_assigned_before_use,
    names_defined,
    parses,
)
from godel.precheck._digest import normalized_digest
from godel.task import Task

__all__ = [
    "DEFAULT_PRECHECKS",
    "calls_fit_signatures",
    "compiles",
    "locals_assigned_before_use",
    "names_defined",
    "normalized_digest",
    "parses",
]

# In the order they run: the cheapest and most basic first, each assuming the ones before it passed.
DEFAULT_PRECHECKS: tuple[Callable[[Task, Program, Program], str | None], ...] = (
    parses,
    compiles,
    names_defined,
    locals_assigned_before_use,
    calls_fit_signatures,
)
