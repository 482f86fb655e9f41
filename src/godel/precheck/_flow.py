"""Local variables read where no assignment can have happened yet: an UnboundLocalError whenever the read runs.

For each function, a forward analysis over its statements keeps the set of locals that *may* be bound at each
point (a path from the function's entry assigns them). A read of a local outside that set fails on every path that
reaches it: ``best_y = f(best_y)`` as the first assignment, ``bounds[x]`` before the loop that first assigns ``x``.
Every approximation errs towards "may be bound", so a reported read is certain to fail when it runs:

* a read that fails ends its path, so a loop whose first pass always fails at a read never "assigns" on later passes
  (the state at a loop's head starts from its entry and grows to a fixpoint; reports come from the pass at it);
* ``except`` and ``finally`` blocks start from everything their ``try`` may have assigned; ``break`` and
  ``continue`` through a ``finally`` carry its assignments; a ``with`` block may end early (a context manager can
  swallow the exception), so after it come its assignments too;
* only reads that run whenever their statement runs count: not the right side of ``and``/``or``, the branches of
  ``a if c else b``, later links of a chained comparison, ``assert`` (stripped under ``-O``), ``match`` guards and
  patterns, or comprehension bodies and lambdas (nested scopes);
* locals a nested scope uses are not judged (a nested function may assign them with ``nonlocal``), nor reads inside
  a ``try`` whose handlers catch NameError.
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from godel.precheck._scopes import Scope, analyse, catches_name_error
from godel.precheck._source import CACHE, future_annotations

__all__ = ["Unbound", "unbound_reads"]

State = frozenset[str] | None  # None: no path reaches this point
# Nodes that bind the name in their ``name`` field (optional for handlers and patterns).
_NAMED = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.ExceptHandler, ast.MatchAs, ast.MatchStar)
_Pass = Callable[[frozenset[str]], tuple[State, State]]


@dataclass(frozen=True)
class Unbound:
    function: str  # qualified name of the function
    name: str
    line: int


# Statements visited per function before giving up: nested loops multiply their passes.
_BUDGET = 200_000


class _TooBig(Exception):
    """The function is too large or too deeply looped to analyse in the time a proposal may take."""


@dataclass
class _Loop:
    breaks: list[frozenset[str]] = field(default_factory=list)
    continues: list[frozenset[str]] = field(default_factory=list)


def _join(*states: State) -> State:
    live = [s for s in states if s is not None]
    return frozenset().union(*live) if live else None


def _irrefutable(case: ast.match_case) -> bool:
    p = case.pattern
    return case.guard is None and isinstance(p, ast.MatchAs) and p.pattern is None


class _Flow:
    def __init__(self, tracked: frozenset[str], future: bool, walrus: bool) -> None:
        self.tracked = tracked
        self.future = future
        self.walrus = walrus  # whether the function has an assignment expression at all
        self.guard = False
        self.loops: list[_Loop] = []
        # Where failing reads go, (name, line) in the order found: a loop pass gets its own, kept only when the
        # pass turns out to be the one at the fixpoint.
        self.sinks: list[dict[tuple[str, int], None]] = [{}]
        self.steps = 0

    # -- expressions --------------------------------------------------------------------------------------------------

    def _fails(self, name: str, line: int, state: frozenset[str]) -> bool:
        """Whether reading ``name`` here raises; reported once the analysis is settled and nothing catches it."""
        if name not in self.tracked or name in state:
            return False
        if not self.guard:
            self.sinks[-1].setdefault((name, line), None)
        return True

    def _walrus(self, e: ast.AST) -> frozenset[str]:
        if not self.walrus:
            return frozenset()
        out = set()
        todo = [e]
        while todo:
            n = todo.pop()
            if isinstance(n, ast.NamedExpr):
                out.add(n.target.id)
            if not isinstance(n, ast.Lambda):  # a lambda's := binds in the lambda
                todo.extend(ast.iter_child_nodes(n))
        return frozenset(out) & self.tracked

    def _read(self, e: ast.AST, state: frozenset[str]) -> bool:
        """Whether one of the reads that run whenever ``e`` is evaluated fails (each failing one is reported)."""
        if isinstance(e, ast.Name):
            return isinstance(e.ctx, ast.Load) and self._fails(e.id, e.lineno, state)
        if isinstance(e, ast.Lambda):
            parts: list[ast.AST] = [*e.args.defaults, *(d for d in e.args.kw_defaults if d is not None)]
        elif isinstance(e, ast.ListComp | ast.SetComp | ast.GeneratorExp | ast.DictComp):
            parts = [e.generators[0].iter]
        elif isinstance(e, ast.BoolOp):
            parts = [e.values[0]]
        elif isinstance(e, ast.IfExp):
            parts = [e.test]
        elif isinstance(e, ast.Compare):
            parts = [e.left, e.comparators[0]]
        else:
            parts = list(ast.iter_child_nodes(e))
        failed = False
        for part in parts:
            failed = self._read(part, state) or failed
        return failed

    def expr(self, e: ast.AST | None, state: State) -> State:
        """The state after evaluating ``e``; None when a read in it always fails."""
        if e is None or state is None:
            return state
        # An assignment expression anywhere in ``e`` counts as done before every read in it: erring to "bound".
        state = state | self._walrus(e)
        return None if self._read(e, state) else state

    def target(self, t: ast.AST, state: State) -> State:
        """The state after assigning to ``t`` (evaluating the object and index of ``a.b`` and ``a[i]`` first)."""
        if state is None:
            return None
        if isinstance(t, ast.Name):
            return state | ({t.id} & self.tracked)
        if isinstance(t, ast.Tuple | ast.List):
            out: State = state
            for elt in t.elts:
                out = self.target(elt, out)
            return out
        if isinstance(t, ast.Starred):
            return self.target(t.value, state)
        if isinstance(t, ast.Attribute):
            return self.expr(t.value, state)
        if isinstance(t, ast.Subscript):
            return self.expr(t.slice, self.expr(t.value, state))
        return state | self.bound_in([t])

    def bound_in(self, nodes: Iterable[ast.AST]) -> frozenset[str]:
        """Every tracked name some node in ``nodes`` may bind (a superset: nested scopes are not told apart)."""
        out: set[str] = set()
        for root in nodes:
            for n in ast.walk(root):
                if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store):
                    out.add(n.id)
                elif isinstance(n, ast.alias):
                    out.add(n.asname or n.name.split(".")[0])
                elif isinstance(n, _NAMED) and n.name:
                    out.add(n.name)
                elif isinstance(n, ast.MatchMapping) and n.rest:
                    out.add(n.rest)
        return frozenset(out) & self.tracked

    # -- statements ---------------------------------------------------------------------------------------------------

    def block(self, stmts: Sequence[ast.stmt], state: State) -> State:
        self.steps += len(stmts)
        if self.steps > _BUDGET:
            raise _TooBig
        for st in stmts:
            if state is None:
                return None
            state = self.stmt(st, state)
        return state

    def _bind(self, state: State, name: str) -> State:
        return None if state is None else state | ({name} & self.tracked)

    def stmt(self, st: ast.stmt, s: frozenset[str]) -> State:
        if isinstance(st, ast.Expr):
            return self.expr(st.value, s)
        if isinstance(st, ast.Assign):
            out = self.expr(st.value, s)
            for t in st.targets:
                out = self.target(t, out)
            return out
        if isinstance(st, ast.AugAssign):
            if isinstance(st.target, ast.Name):
                if self._fails(st.target.id, st.lineno, s):
                    return None
                return self._bind(self.expr(st.value, s), st.target.id)
            return self.expr(st.value, self.target(st.target, s))
        if isinstance(st, ast.AnnAssign):
            if st.value is None:
                return s  # nothing is evaluated in a function: neither the annotation nor the target
            return self.target(st.target, self.expr(st.value, s))
        if isinstance(st, ast.Return):
            self.expr(st.value, s)
            return None
        if isinstance(st, ast.Raise):
            self.expr(st.cause, self.expr(st.exc, s))
            return None
        if isinstance(st, ast.Assert):
            return s | self._walrus(st)  # not run under -O: no reads judged
        if isinstance(st, ast.Delete):
            out = s
            for t in st.targets:
                if isinstance(t, ast.Name):
                    if out is None or self._fails(t.id, t.lineno, out):
                        return None
                    out = out - {t.id}
                else:
                    out = self.target(t, out)
            return out
        if isinstance(st, ast.Break | ast.Continue):
            if self.loops:
                loop = self.loops[-1]
                (loop.breaks if isinstance(st, ast.Break) else loop.continues).append(s)
            return None
        if isinstance(st, ast.Pass | ast.Global | ast.Nonlocal):
            return s
        if isinstance(st, ast.Import | ast.ImportFrom):
            return s | self.bound_in(st.names)
        if isinstance(st, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            return self._bind(self._definition(st, s), st.name)
        if isinstance(st, ast.If):
            after_test = self.expr(st.test, s)
            return _join(self.block(st.body, after_test), self.block(st.orelse, after_test))
        if isinstance(st, ast.While):
            return self._while(st, s)
        if isinstance(st, ast.For | ast.AsyncFor):
            return self._for(st, s)
        if isinstance(st, ast.Try | ast.TryStar):
            return self._try(st, s)
        if isinstance(st, ast.With | ast.AsyncWith):
            return self._with(st, s)
        if isinstance(st, ast.Match):
            return self._match(st, s)
        return s | self.bound_in([st])  # a statement kind newer than this analysis: it may bind anything

    def _definition(self, st: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef, s: State) -> State:
        """Decorators, defaults, bases and (without the annotations future) annotations run at definition."""
        parts: list[ast.expr] = list(st.decorator_list)
        if isinstance(st, ast.ClassDef):
            parts.extend([*st.bases, *(k.value for k in st.keywords)])
        else:
            args = st.args
            parts.extend([*args.defaults, *(d for d in args.kw_defaults if d is not None)])
            if not self.future:
                every = [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]
                parts.extend(a.annotation for a in every if a is not None and a.annotation is not None)
                parts.extend([st.returns] if st.returns is not None else [])
        for e in parts:
            s = self.expr(e, s)
        return s

    def _loop(self, entry: frozenset[str], one_pass: _Pass) -> tuple[State, _Loop]:
        """Run a loop's passes until the state at its head stops growing; the reports of the last pass count.

        ``one_pass(head)`` runs the loop's test and body from ``head`` and returns (the state where the loop ends
        because its test fails or its iterator is done, the state at the end of the body). The head starts from
        the loop's entry alone, so a read that fails on the first pass ends that path and assigns nothing for the
        next. Returns the last pass's ending state and its breaks."""
        head = entry
        while True:
            self.loops.append(_Loop())
            self.sinks.append({})
            ended, out = one_pass(head)
            loop, found = self.loops.pop(), self.sinks.pop()
            grown = _join(entry, out, *loop.continues)
            if grown is None or grown == head:
                self.sinks[-1].update(found)  # this pass ran from the fixpoint: its failing reads are real
                return ended, loop
            head = grown

    def _while(self, st: ast.While, s: frozenset[str]) -> State:
        forever = isinstance(st.test, ast.Constant) and bool(st.test.value)

        def one_pass(head: frozenset[str]) -> tuple[State, State]:
            after_test = self.expr(st.test, head)
            return (None if forever else after_test), self.block(st.body, after_test)

        ended, loop = self._loop(s, one_pass)
        return _join(self.block(st.orelse, ended), *loop.breaks)

    def _for(self, st: ast.For | ast.AsyncFor, s: frozenset[str]) -> State:
        after_iter = self.expr(st.iter, s)
        if after_iter is None:
            return None

        def one_pass(head: frozenset[str]) -> tuple[State, State]:
            return head, self.block(st.body, self.target(st.target, head))

        ended, loop = self._loop(after_iter, one_pass)
        return _join(self.block(st.orelse, ended), *loop.breaks)

    def _try(self, st: ast.Try | ast.TryStar, entry: frozenset[str]) -> State:
        loop = self.loops[-1] if self.loops else None
        marks = (len(loop.breaks), len(loop.continues)) if loop else (0, 0)
        saved = self.guard
        self.guard = saved or catches_name_error(st.handlers)
        body_out = self.block(st.body, entry)
        self.guard = saved
        # An exception can leave the body after any of its statements.
        anywhere = entry | self.bound_in(st.body)
        outs = [self.block(st.orelse, body_out)]
        for h in st.handlers:
            hs = self.expr(h.type, anywhere)
            out = self.block(h.body, hs if h.name is None else self._bind(hs, h.name))
            outs.append(
                None if out is None else out - {h.name or ""}
            )  # the handler's name is deleted after it
        normal = _join(*outs)
        if not st.finalbody:
            return normal
        fin_binds = self.bound_in(st.finalbody)
        if loop is not None:
            loop.breaks[marks[0] :] = [b | fin_binds for b in loop.breaks[marks[0] :]]
            loop.continues[marks[1] :] = [c | fin_binds for c in loop.continues[marks[1] :]]
        # Reports come from the widest entry (any exit of the try); the way on goes from its normal exits.
        self.block(st.finalbody, anywhere | self.bound_in([*st.handlers, *st.orelse]))
        self.sinks.append({})
        after = self.block(st.finalbody, normal)
        self.sinks.pop()
        return after

    def _with(self, st: ast.With | ast.AsyncWith, s: frozenset[str]) -> State:
        entered: State = s
        for item in st.items:
            entered = self.expr(item.context_expr, entered)
            if item.optional_vars is not None:
                entered = self.target(item.optional_vars, entered)
        if entered is None:
            return None
        out = self.block(st.body, entered)
        # A context manager may swallow an exception from anywhere in the body.
        return _join(out, entered | self.bound_in(st.body))

    def _match(self, st: ast.Match, s: frozenset[str]) -> State:
        subject = self.expr(st.subject, s)
        if subject is None:
            return None
        binds = self.bound_in([c.pattern for c in st.cases])  # a failed match may leave some bound
        outs: list[State] = []
        for case in st.cases:
            cs = subject | binds | (self._walrus(case.guard) if case.guard is not None else frozenset())
            outs.append(self.block(case.body, cs))
        if not (st.cases and _irrefutable(st.cases[-1])):
            outs.append(subject | binds)
        return _join(*outs)


def _captured(scope: Scope) -> set[str]:
    out: set[str] = set()
    for child in scope.children:
        for d in child.walk():
            out.update(d.local, d.declared_nonlocal, d.declared_global, (r.name for r in d.refs))
    return out


@functools.lru_cache(maxsize=CACHE)
def unbound_reads(text: str) -> tuple[Unbound, ...]:
    """Reads of a function's locals that fail on every path reaching them, in source order."""
    info = analyse(text)
    if info is None:
        return ()
    root = info.root.node
    future = isinstance(root, ast.Module) and future_annotations(root)
    out: list[Unbound] = []
    for scope in info.root.walk():
        node = scope.node
        if scope.kind != "function" or not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        tracked = frozenset(scope.local - scope.declared_global - scope.declared_nonlocal - _captured(scope))
        if not tracked:
            continue
        flow = _Flow(tracked, future, info.walrus)
        params = {a.arg for a in [*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs]}
        params.update(a.arg for a in (node.args.vararg, node.args.kwarg) if a is not None)
        try:
            flow.block(node.body, frozenset(params) & tracked)
        except (RecursionError, _TooBig):
            continue  # not judged: deeper or larger than a check before the sandbox may take
        out.extend(Unbound(scope.qualname, name, line) for name, line in flow.sinks[0])
    out.sort(key=lambda u: u.line)
    return tuple(out)
