"""Calls that no longer fit the function they call: the arguments a caller passes against the parameters of the
definition it reaches, and the number of names a caller unpacks the result into against what the function returns.

"The evolved function" is any module-level function of the program whose definition an edit can change and that
something calls: the frame (the fixed code outside the EVOLVE-BLOCK), other evolved code, or the evaluator
(``module.f(...)``). Its signature is judged against those calls, never against the parent's signature alone: a
changed signature is only wrong relative to a call that it no longer accepts (adding a parameter with a default,
or removing one nobody passes, breaks nothing), and a function passed around or fetched with ``getattr`` has no
call to judge it by, so it is not judged.

A call is judged only when both ends are certain: a plain ``f(...)`` that resolves to the module's global ``f``
(not a local or parameter of that name), with no ``*args`` or ``**kwargs``, outside any ``try`` that may catch the
TypeError, to a function bound exactly once in the module, by an undecorated ``def`` (a decorator may change the
signature). The evaluator's ``owner.f(...)`` calls count for the task's program file when ``owner`` is not a module
the evaluator imports. Unpacking is judged only when every ``return`` of the function gives a tuple or list display
(or nothing) of another length. A function the evaluator reads (``owner.f``) that the parent defined and the child
no longer binds is reported too, unless the evaluator asks first (``hasattr(module, "f")``).
"""

from __future__ import annotations

import ast
import functools
from dataclasses import dataclass

from godel.precheck._scopes import CallSite, ModuleInfo, Scope, analyse

__all__ = ["CallFault", "EvaluatorUses", "bind_fault", "call_faults", "evaluator_uses", "signatures"]

Definition = ast.FunctionDef | ast.AsyncFunctionDef


@dataclass(frozen=True)
class CallFault:
    callee: str
    line: int  # of the call
    in_evaluator: bool
    problem: str  # as Python's TypeError would put it
    definition: Definition
    fix: str  # what would make the call and the definition agree

    @property
    def key(self) -> tuple[str, bool, str]:
        """What identifies the fault between a parent and its child (line numbers move)."""
        return (self.callee, self.in_evaluator, self.problem)


@dataclass(frozen=True)
class EvaluatorUses:
    """What a task's evaluator does with the program module."""

    calls: tuple[CallSite, ...]  # owner.f(...) with owner not an imported module
    reads: tuple[tuple[str, int], ...]  # (f, line) of each owner.f read, owner not an imported module
    probed: frozenset[str]  # names it asks about first (hasattr(module, "f"), getattr(module, "f", None))


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def bind_fault(args: ast.arguments, positional: int, keywords: tuple[str, ...]) -> str | None:
    """Why a call with ``positional`` positional arguments and these keywords cannot bind to ``args``."""
    posonly = [a.arg for a in args.posonlyargs]
    normal = [a.arg for a in args.args]
    params = posonly + normal
    kwonly = [a.arg for a in args.kwonlyargs]
    if positional > len(params) and args.vararg is None:
        return f"takes {_plural(len(params), 'positional argument')} but {positional} were given"
    bound = set(params[:positional])
    for k in keywords:
        if k in normal or k in kwonly:
            if k in bound:
                return f"got multiple values for argument '{k}'"
            bound.add(k)
        elif args.kwarg is None:
            if k in posonly:
                return f"got some positional-only arguments passed as keyword arguments: '{k}'"
            return f"got an unexpected keyword argument '{k}'"
    first_default = len(params) - len(args.defaults)
    missing = [p for i, p in enumerate(params) if i < first_default and p not in bound]
    if missing:
        names = ", ".join(f"'{m}'" for m in missing)
        return f"missing {_plural(len(missing), 'required positional argument')}: {names}"
    missing_kw = [k for k, d in zip(kwonly, args.kw_defaults, strict=True) if d is None and k not in bound]
    if missing_kw:
        names = ", ".join(f"'{m}'" for m in missing_kw)
        return f"missing {_plural(len(missing_kw), 'required keyword-only argument')}: {names}"
    return None


def _unpack_fault(fn: Definition, scope: Scope, targets: int) -> str | None:
    """Why unpacking every value ``fn`` can return into ``targets`` names fails, or None when one may fit.

    Only a function whose every ``return`` gives a tuple or list display of another length, or nothing (None;
    falling off the end gives None too), certainly fails; any other returned value might unpack."""
    if isinstance(fn, ast.AsyncFunctionDef) or scope.generator:
        return None  # a coroutine is awaited first; a generator is iterated
    lengths: set[int] = set()
    for ret in scope.returns:
        value = ret.value
        if value is None or (isinstance(value, ast.Constant) and value.value is None):
            continue
        if not isinstance(value, ast.Tuple | ast.List) or any(isinstance(e, ast.Starred) for e in value.elts):
            return None
        if len(value.elts) == targets:
            return None
        lengths.add(len(value.elts))
    if not lengths:
        return f"returns None, which cannot be unpacked into {targets} names"
    shown = " or ".join(str(n) for n in sorted(lengths))
    return f"returns {shown} values, but its result is unpacked into {targets} names"


def signatures(info: ModuleInfo) -> dict[str, tuple[Definition, Scope]]:
    """The module-level functions whose signature every caller of the name certainly reaches, with their scopes."""
    scopes = {id(s.node): s for s in info.root.children}
    return {
        name: (defs[0], scopes[id(defs[0])])
        for name, defs in info.defs.items()
        if len(defs) == 1 and info.bindings[name] == 1 and not defs[0].decorator_list
    }


@functools.lru_cache(maxsize=64)
def evaluator_uses(text: str) -> EvaluatorUses | None:
    """The evaluator's uses of the program module; None when it does not parse."""
    info = analyse(text)
    if info is None:
        return None
    calls = tuple(
        c
        for scope in info.root.walk()
        for c in scope.attribute_calls
        if c.owner is not None and c.owner not in info.imported
    )
    reads = tuple((attr, line) for owner, attr, line in info.attributes_read if owner not in info.imported)
    tree = info.root.node
    probed = frozenset(
        n.args[1].value
        for n in ast.walk(tree)
        if isinstance(n, ast.Call)
        and isinstance(n.func, ast.Name)
        and n.func.id in ("hasattr", "getattr")
        and len(n.args) >= 2
        and isinstance(n.args[1], ast.Constant)
        and isinstance(n.args[1].value, str)
    )
    return EvaluatorUses(calls, reads, probed)


def _call_problem(fn: Definition, scope: Scope, call: CallSite) -> tuple[str, str] | None:
    problem = bind_fault(fn.args, call.positional, call.keywords)
    if problem is not None:
        return problem, "keep the parameters the callers pass (a new parameter needs a default)"
    if call.unpacked is not None:
        problem = _unpack_fault(fn, scope, call.unpacked)
        if problem is not None:
            return problem, f"return exactly {call.unpacked} values, as the callers expect"
    return None


def call_faults(info: ModuleInfo, evaluator: EvaluatorUses | None) -> list[CallFault]:
    """Calls in the module (and the evaluator, when given) that cannot bind to the definition they reach."""
    sigs = signatures(info)
    out: list[CallFault] = []
    for scope in info.root.walk():
        for call in scope.calls:
            sig = sigs.get(call.name)
            if sig is None or call.guarded or scope.lookup(call.name) is not None:
                continue
            fn = sig[0]
            problem = _call_problem(*sig, call)
            if problem is not None:
                out.append(CallFault(call.name, call.line, False, problem[0], fn, problem[1]))
    for call in evaluator.calls if evaluator is not None else ():
        sig = sigs.get(call.name)
        if sig is None or call.guarded:
            continue
        fn = sig[0]
        problem = _call_problem(*sig, call)
        if problem is not None:
            out.append(CallFault(call.name, call.line, True, problem[0], fn, problem[1]))
    out.sort(key=lambda f: (f.in_evaluator, f.line))
    return out
