"""The checks themselves, each a precheck ``(task, parent, child) -> reason | None`` for ``Stages.prechecks``.

Every check looks only at the Python files the edit changed and judges the child against its parent: a fault the
parent already had (a name the evaluator injects, a call in code that never runs) is not the edit's doing and is
not reported, so a task whose seed passes its own evaluation is never rejected for what the seed does. The reason
is fed back to the model that wrote the edit, so it names the file, the line, the code and what would fix it.
"""

from __future__ import annotations

import ast
import difflib
import re
from collections.abc import Iterator

from godel.candidate import Program
from godel.errors import TaskError
from godel.precheck._calls import CallFault, EvaluatorUses, call_faults, evaluator_uses
from godel.precheck._flow import unbound_reads
from godel.precheck._scopes import BUILTINS, ModuleInfo, Ref, Scope, analyse, undefined
from godel.precheck._source import Fault, compile_fault, is_python, parsed, source_line
from godel.task import Task

__all__ = ["calls_fit_signatures", "compiles", "locals_assigned_before_use", "names_defined", "parses"]


def _changed(parent: Program, child: Program) -> Iterator[tuple[str, str, str | None]]:
    """(path, child text, parent text or None) of each Python file the edit adds or changes."""
    for path, text in child.files.items():
        if is_python(path):
            old = parent.files.get(path)
            if old != text:
                yield path, text, old


def _code(text: str, line: int | None) -> str:
    shown = source_line(text, line)
    return f": `{shown}`" if shown else ""


def _where(fault: Fault) -> str:
    if fault.line is None:
        return ""
    return f"line {fault.line}" + (f", column {fault.column}" if fault.column else "") + ": "


def parses(task: Task, parent: Program, child: Program) -> str | None:
    """A Python file the edit changed no longer parses (and its parent's version did)."""
    for path, text, old in _changed(parent, child):
        fault = parsed(text)
        if isinstance(fault, Fault) and (old is None or isinstance(parsed(old), ast.Module)):
            return f"{path} does not parse: {_where(fault)}{fault.message}{_code(text, fault.line)}"
    return None


def compiles(task: Task, parent: Program, child: Program) -> str | None:
    """A changed Python file parses but the compiler rejects it: ``return`` or ``yield`` outside a function,
    ``break`` outside a loop, a duplicate argument, ``nonlocal`` at module level, a misplaced ``__future__``
    import... A file that does not parse is :func:`parses`' to report."""
    for path, text, old in _changed(parent, child):
        if not isinstance(parsed(text), ast.Module):
            continue
        fault = compile_fault(text)
        if fault is not None and (old is None or compile_fault(old) is None):
            return f"{path} does not compile: {_where(fault)}{fault.message}{_code(text, fault.line)}"
    return None


def _visible(info: ModuleInfo, scope: Scope) -> set[str]:
    names = set(info.module_bound) | BUILTINS
    s: Scope | None = scope
    while s is not None:
        names.update(s.local)
        s = s.parent
    return names


def _undefined_reason(path: str, text: str, info: ModuleInfo, new: list[tuple[Scope, Ref]]) -> str:
    first: dict[str, tuple[Scope, Ref]] = {}
    for scope, ref in new:
        first.setdefault(ref.name, (scope, ref))
    shown = list(first.values())[:3]
    parts = []
    for scope, ref in shown:
        where = "" if scope.parent is None else f" in {scope.qualname}()"
        parts.append(f"'{ref.name}' (line {ref.line}{where}{_code(text, ref.line)})")
    scope, ref = shown[0]
    hint = ""
    if len(first) == 1:
        close = difflib.get_close_matches(
            ref.name, sorted(_visible(info, scope) - {ref.name}), n=1, cutoff=0.8
        )
        hint = f"; did you mean '{close[0]}'?" if close else ""
    more = f" and {len(first) - len(shown)} more" if len(first) > len(shown) else ""
    what = "undefined name " if len(first) == 1 else "undefined names "
    return (
        f"{path}: {what}{', '.join(parts)}{more}: nothing in the file assigns or imports "
        f"{'it' if len(first) == 1 else 'them'} and no builtin has that name; define or import it before use, "
        f"or use a name that exists{hint}"
    )


def names_defined(task: Task, parent: Program, child: Program) -> str | None:
    """The edit reads a name that nothing binds where Python will look it up (no assignment, import, ``def``,
    parameter, loop or comprehension target, ``global``/``nonlocal``, builtin) and that its parent did not read.

    Not judged: a module that makes names dynamically (``from x import *``, ``globals()``, ``exec``...), reads
    inside a ``try`` whose handlers may catch NameError, and class bodies with a metaclass."""
    for path, text, old in _changed(parent, child):
        info = analyse(text)
        if info is None or info.dynamic is not None:
            continue
        found = undefined(info)
        if not found:
            continue
        known: set[str] = set()
        if old is not None:
            old_info = analyse(old)
            if old_info is None:
                continue  # the parent's file does not parse: nothing says what its environment provides
            # Names the parent reads without binding come from elsewhere (an evaluator may inject them).
            known = {ref.name for _scope, ref in undefined(old_info)}
        new = [(s, r) for s, r in found if r.name not in known]
        if new:
            return _undefined_reason(path, text, info, new)
    return None


def locals_assigned_before_use(task: Task, parent: Program, child: Program) -> str | None:
    """The edit reads a function's local variable where no assignment to it can have run yet, so the read raises
    UnboundLocalError every time it runs (``y = f(y)`` as the first assignment of ``y``, ``bounds[x]`` before the
    loop that assigns ``x``). See :mod:`godel.precheck._flow` for why such a report is certain."""
    for path, text, old in _changed(parent, child):
        found = unbound_reads(text)
        if not found:
            continue
        known: set[tuple[str, str]] = set()
        if old is not None:
            if analyse(old) is None:
                continue
            known = {(u.function, u.name) for u in unbound_reads(old)}
        new = [u for u in found if (u.function, u.name) not in known]
        if new:
            u = new[0]
            return (
                f"{path}: local variable '{u.name}' is read at line {u.line} in {u.function}() before anything "
                f"assigns it{_code(text, u.line)}; every run raises UnboundLocalError there: assign '{u.name}' "
                f"first, or read a variable that already has a value"
            )
    return None


def _evaluator(task: Task) -> EvaluatorUses | None:
    data = task.support_files.get(task.evaluator_path)
    return None if data is None else evaluator_uses(data.decode("utf-8", "replace"))


def _region_label(task: Task, child: Program, path: str, line: int) -> str:
    try:
        regions = task.regions(child)
    except TaskError:
        return ""  # broken markers: the legal-edit check reports those, this label just goes without
    inside = any(r.path == path and r.start <= line - 1 < r.end for r in regions)
    return " (in the evolvable code)" if inside else " (in the fixed code, which the edit cannot change)"


def _call_reason(task: Task, child: Program, path: str, text: str, fault: CallFault) -> str:
    fn = fault.definition
    definition = f"`def {fn.name}({ast.unparse(fn.args)})` at line {fn.lineno}"
    if fault.in_evaluator:
        return (
            f"the evaluator ({task.evaluator_path} line {fault.line}) calls {fault.callee}() of {path}, and with "
            f"the edited {definition} {fault.callee}() {fault.problem}: {fault.fix}"
        )
    where = _region_label(task, child, path, fault.line)
    return (
        f"{path}: the call at line {fault.line}{where}{_code(text, fault.line)} does not fit {definition}: "
        f"{fault.callee}() {fault.problem}; {fault.fix}"
    )


def calls_fit_signatures(task: Task, parent: Program, child: Program) -> str | None:
    """A call of one of the program's functions (from the frame, the evolved code or the evaluator) that the
    edited definition no longer accepts, or a function the evaluator uses that the edit removed."""
    evaluator = _evaluator(task) if task.mode == "file" else None
    for path, text, old in _changed(parent, child):
        info = analyse(text)
        if info is None or info.dynamic is not None:
            continue
        uses = evaluator if path == child.main_path else None
        faults = call_faults(info, uses)
        missing: list[tuple[str, int]] = []
        if uses is not None and "__getattr__" not in info.module_bound:
            # An evaluator that asks whether the module has a name (hasattr) copes with its absence.
            missing = [
                (a, line) for a, line in uses.reads if a not in info.module_bound and a not in uses.probed
            ]
            # Only a function the parent defined can have been removed (a cheap filter before parsing it).
            missing = [
                (a, line) for a, line in missing if old is not None and re.search(rf"\bdef\s+{a}\b", old)
            ]
        if not faults and not missing:
            continue
        # The parent is looked at only when the child has something to answer for (most children do not).
        old_info = analyse(old) if old is not None else None
        if old is not None and old_info is None:
            continue  # the parent's file does not parse: nothing to compare with
        known = {f.key for f in call_faults(old_info, uses)} if old_info is not None else set()
        new = [f for f in faults if f.key not in known]
        if new:
            return _call_reason(task, child, path, text, new[0])
        for attr, line in missing:
            if old_info is not None and attr in old_info.defs:
                return (
                    f"the evaluator ({task.evaluator_path} line {line}) uses {attr}() of {path}, which the "
                    f"edit removes or renames: keep a module-level function named {attr}"
                )
    return None
