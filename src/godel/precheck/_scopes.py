"""Python's name binding rules applied to a module's tree: which names each scope binds, reads and calls.

The rules are the compiler's (the symbol table's): a name bound anywhere in a function is local to the whole
function, unless declared ``global`` or ``nonlocal``; class bodies are not visible from the functions inside them;
a comprehension is its own scope whose first iterable is evaluated outside it; an assignment expression in a
comprehension binds in the enclosing function; decorators, defaults and (without ``from __future__ import
annotations``) parameter annotations are evaluated where the ``def`` is; local variable annotations never are.
``tests/test_precheck.py`` checks the classification against :mod:`symtable` on generated programs.

Bindings are counted without regard to order or condition (a name bound only under ``if`` or ``try`` is bound), so
what the checks built on this report is a name that *no* path binds. A module that can create names the tree does
not show (``from x import *``, ``globals()``, ``exec``, ``import builtins``, ``sys.modules``, ``__dict__``,
``@enum.global_enum``) is marked *dynamic* and its names are not judged at all.

The module is over 500 lines because it is one thing: the binder needs a case for each construct of the language
that binds, reads or opens a scope, and splitting those cases apart would scatter one set of rules.
"""

from __future__ import annotations

import ast
import builtins
import functools
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from godel.precheck._source import CACHE, future_annotations, parsed

__all__ = [
    "BUILTINS",
    "CallSite",
    "ModuleInfo",
    "Ref",
    "Scope",
    "analyse",
    "catches",
    "catches_name_error",
    "undefined",
]

BUILTINS = frozenset(dir(builtins))
# What a module's namespace holds before its first line runs (``__path__`` for packages, ``__annotations__``
# once it has an annotated name).
_MODULE_NAMES = frozenset(
    {
        "__name__",
        "__file__",
        "__doc__",
        "__package__",
        "__loader__",
        "__spec__",
        "__builtins__",
        "__cached__",
        "__annotations__",
        "__path__",
    }
)
# What a class body's namespace holds before its first line runs.
_CLASS_NAMES = frozenset({"__module__", "__qualname__"})
# Calls and modules through which a program can make names the tree does not show.
_DYNAMIC_NAMES = frozenset({"globals", "locals", "exec", "eval", "__import__", "__builtins__"})
_DYNAMIC_MODULES = frozenset({"builtins", "__builtin__"})
_DYNAMIC_ATTRS = frozenset({"__dict__", "__globals__", "__builtins__"})
# Decorators known to add a class's members to its module's globals (re's flags come from enum.global_enum).
_DYNAMIC_DECORATORS = frozenset({"global_enum"})


@dataclass(frozen=True)
class Ref:
    """A read (or ``del``) of a name."""

    name: str
    line: int
    guarded: (
        bool  # inside a ``try`` whose handlers may catch NameError: the program expects it may be undefined
    )


@dataclass(frozen=True)
class CallSite:
    """A call ``name(...)`` (or ``owner.name(...)``) whose arguments can be counted (no ``*args``, ``**kwargs``)."""

    name: str
    line: int
    positional: int
    keywords: tuple[str, ...]
    guarded: bool  # inside a ``try`` whose handlers may catch TypeError: a bad call may be expected
    owner: str | None = None  # the name before the dot of ``owner.name(...)``
    unpacked: int | None = None  # ``a, b, c = name(...)``: how many names the result is unpacked into


@dataclass(eq=False)
class Scope:
    kind: str  # "module" | "function" | "class" | "comprehension"
    name: str
    node: ast.AST
    parent: Scope | None
    bound: set[str] = field(default_factory=set)  # names given a value here
    local: set[str] = field(default_factory=set)  # bound, deleted or annotated: local for the compiler
    declared_global: set[str] = field(default_factory=set)
    declared_nonlocal: set[str] = field(default_factory=set)
    refs: list[Ref] = field(default_factory=list)
    calls: list[CallSite] = field(default_factory=list)  # plain calls ``name(...)``
    attribute_calls: list[CallSite] = field(default_factory=list)  # ``owner.name(...)``, owner a plain name
    children: list[Scope] = field(default_factory=list)
    returns: list[ast.Return] = field(default_factory=list)  # the return statements of this function itself
    generator: bool = False  # yields (or awaits): calling it does not run the body
    # A class with a metaclass: its body may look names up in whatever mapping ``__prepare__`` returns.
    opaque: bool = False

    @property
    def qualname(self) -> str:
        parts: list[str] = []
        s: Scope | None = self
        while s is not None and s.parent is not None:
            parts.append(s.name)
            s = s.parent
        return ".".join(reversed(parts)) or "<module>"

    def walk(self) -> Iterator[Scope]:
        yield self
        for child in self.children:
            yield from child.walk()

    def lookup(self, name: str) -> Scope | None:
        """The scope whose binding ``name`` refers to here; None for the module's globals (and builtins)."""
        s: Scope | None = self
        while s is not None and s.parent is not None:
            if name in s.declared_global:
                return None
            # Class bodies are visible only to their own code, not to the functions inside them.
            if (s is self or s.kind != "class") and (name in s.local or name in s.declared_nonlocal):
                return s
            if name == "__class__" and s.kind == "class" and s is not self:
                return s  # the implicit cell of every function defined in a class body
            s = s.parent
        return None


@dataclass(frozen=True)
class ModuleInfo:
    root: Scope
    dynamic: str | None  # why the module's names cannot be judged, or None
    module_bound: frozenset[str]  # every name some statement binds in the module's namespace
    bindings: Counter[str]  # how many statements bind (or delete) each module-level name
    defs: dict[str, list[ast.FunctionDef | ast.AsyncFunctionDef]]  # module-level function definitions
    imported: frozenset[str]  # names bound by an import statement, anywhere
    # (owner, attribute, line) of each ``owner.attribute`` read
    attributes_read: tuple[tuple[str, str, int], ...]
    walrus: bool  # whether the module has an assignment expression at all


def catches(handlers: list[ast.ExceptHandler], error: type[BaseException] = NameError) -> bool:
    """Whether one of these handlers may catch ``error`` (bare, ``Exception``, an alias, ...)."""
    return any(h.type is None or _may_catch(h.type, error) for h in handlers)


def catches_name_error(handlers: list[ast.ExceptHandler]) -> bool:
    return catches(handlers, NameError)


def _may_catch(expr: ast.expr, error: type[BaseException]) -> bool:
    items = expr.elts if isinstance(expr, ast.Tuple) else [expr]
    for item in items:
        if not isinstance(item, ast.Name):
            return True  # an attribute or a computed value: it may be anything
        cls = getattr(builtins, item.id, None)
        if not (isinstance(cls, type) and issubclass(cls, BaseException)):
            return True  # not a builtin exception: an alias or a class of the program's own
        if issubclass(error, cls):
            return True
    return False


def _suppresses(expr: ast.expr, error: type[BaseException]) -> bool:
    """``with contextlib.suppress(...)`` of something that may catch ``error``."""
    if not isinstance(expr, ast.Call):
        return False
    func = expr.func
    name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
    return name == "suppress" and any(_may_catch(a, error) for a in expr.args)


class _Binder(ast.NodeVisitor):
    def __init__(self, tree: ast.Module) -> None:
        self.root = Scope("module", "<module>", tree, None)
        self.scope = self.root
        self.guarded = False  # a NameError here may be caught
        self.guarded_call = False  # a TypeError here may be caught
        self.future = future_annotations(tree)
        self.dynamic: str | None = None
        self.bindings: Counter[str] = Counter()
        self.defs: dict[str, list[ast.FunctionDef | ast.AsyncFunctionDef]] = {}
        self.imported: set[str] = set()
        self.walrus = False
        self.unpacking: dict[int, int] = {}  # id() of a call whose result is unpacked -> how many targets
        self.attributes_read: list[tuple[str, str, int]] = []

    # -- helpers -----------------------------------------------------------------------------------------------------

    def _mark(self, why: str, node: ast.AST) -> None:
        if self.dynamic is None:
            self.dynamic = f"{why} at line {getattr(node, 'lineno', '?')}"

    def _bind(self, name: str, scope: Scope | None = None) -> None:
        s = scope or self.scope
        s.bound.add(name)
        s.local.add(name)
        if s is self.root or name in s.declared_global:
            self.bindings[name] += 1

    def _enter(self, kind: str, name: str, node: ast.AST, opaque: bool = False) -> Scope:
        child = Scope(kind, name, node, self.scope, opaque=opaque)
        self.scope.children.append(child)
        return child

    def _in(self, scope: Scope, nodes: Sequence[ast.AST]) -> None:
        saved = self.scope, self.guarded, self.guarded_call
        # Code in a new scope runs later, outside any try around its definition.
        self.scope, self.guarded, self.guarded_call = scope, False, False
        for n in nodes:
            self.visit(n)
        self.scope, self.guarded, self.guarded_call = saved

    def _type_params(self, node: ast.AST) -> None:
        # PEP 695 scopes (Python 3.12+) are not modelled: such a module is left unjudged rather than misjudged.
        if getattr(node, "type_params", None):
            self._mark("type parameters", node)

    def _arguments_outside(self, args: ast.arguments) -> None:
        for d in [*args.defaults, *(d for d in args.kw_defaults if d is not None)]:
            self.visit(d)
        if not self.future:
            for a in _all_args(args):
                if a.annotation is not None:
                    self.visit(a.annotation)

    # -- scopes -------------------------------------------------------------------------------------------------------

    def _function(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        self._type_params(node)
        for d in node.decorator_list:
            self.visit(d)
        self._arguments_outside(node.args)
        if node.returns is not None and not self.future:
            self.visit(node.returns)
        self._bind(node.name)
        if self.scope is self.root:
            self.defs.setdefault(node.name, []).append(node)
        scope = self._enter("function", node.name, node)
        for a in _all_args(node.args):
            self._bind(a.arg, scope)
        self._in(scope, node.body)

    visit_FunctionDef = _function
    visit_AsyncFunctionDef = _function

    def visit_Lambda(self, node: ast.Lambda) -> None:
        for d in [*node.args.defaults, *(d for d in node.args.kw_defaults if d is not None)]:
            self.visit(d)
        scope = self._enter("function", "<lambda>", node)
        for a in _all_args(node.args):
            self._bind(a.arg, scope)
        self._in(scope, [node.body])

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self._type_params(node)
        for d in node.decorator_list:
            name = d.id if isinstance(d, ast.Name) else d.attr if isinstance(d, ast.Attribute) else ""
            if name in _DYNAMIC_DECORATORS:
                self._mark(f"@{name}", node)
        for n in [*node.decorator_list, *node.bases, *(k.value for k in node.keywords)]:
            self.visit(n)
        self._bind(node.name)
        scope = self._enter("class", node.name, node, opaque=any(k.arg == "metaclass" for k in node.keywords))
        self._in(scope, node.body)

    def _comprehension(self, node: ast.ListComp | ast.SetComp | ast.GeneratorExp | ast.DictComp) -> None:
        gens = node.generators
        self.visit(gens[0].iter)  # evaluated in the enclosing scope
        scope = self._enter("comprehension", f"<{type(node).__name__.lower()}>", node)
        inner: list[ast.AST] = []
        for i, g in enumerate(gens):
            inner.extend([g.iter] if i else [])
            inner.append(g.target)
            inner.extend(g.ifs)
        inner.extend([node.key, node.value] if isinstance(node, ast.DictComp) else [node.elt])
        self._in(scope, inner)

    visit_ListComp = _comprehension
    visit_SetComp = _comprehension
    visit_GeneratorExp = _comprehension
    visit_DictComp = _comprehension

    def visit_NamedExpr(self, node: ast.NamedExpr) -> None:
        self.walrus = True
        self.visit(node.value)
        s = self.scope
        while s.kind == "comprehension" and s.parent is not None:
            s = s.parent
        self._bind(node.target.id, s)

    # -- names --------------------------------------------------------------------------------------------------------

    def visit_Name(self, node: ast.Name) -> None:
        if isinstance(node.ctx, ast.Store):
            self._bind(node.id)
            return
        if isinstance(node.ctx, ast.Del):
            self.scope.local.add(node.id)
            if self.scope is self.root or node.id in self.scope.declared_global:
                self.bindings[node.id] += 1
        elif node.id in _DYNAMIC_NAMES:
            self._mark(f"{node.id}", node)
        self.scope.refs.append(Ref(node.id, node.lineno, self.guarded))

    def visit_Global(self, node: ast.Global) -> None:
        self.scope.declared_global.update(node.names)

    def visit_Nonlocal(self, node: ast.Nonlocal) -> None:
        self.scope.declared_nonlocal.update(node.names)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            top = alias.name.split(".")[0]
            if top in _DYNAMIC_MODULES:
                self._mark(f"import {alias.name}", node)
            self._bind(alias.asname or top)
            self.imported.add(alias.asname or top)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        for alias in node.names:
            if alias.name == "*":
                self._mark(f"from {node.module or '.'} import *", node)
            else:
                self._bind(alias.asname or alias.name)
                self.imported.add(alias.asname or alias.name)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        if node.value is not None:
            self.visit(node.value)
        target = node.target
        if isinstance(target, ast.Name):
            if node.value is not None:
                self._bind(target.id)
            elif self.scope.kind == "function":
                self.scope.local.add(target.id)  # `x: int` alone makes x local, with no value
        else:
            self.visit(target)
        # Only module and class annotations are evaluated, and not under the annotations future.
        if not self.future and self.scope.kind in ("module", "class"):
            self.visit(node.annotation)

    def visit_Assign(self, node: ast.Assign) -> None:
        if len(node.targets) == 1 and isinstance(node.value, ast.Call):
            target = node.targets[0]
            if isinstance(target, ast.Tuple | ast.List) and not any(
                isinstance(e, ast.Starred) for e in target.elts
            ):
                self.unpacking[id(node.value)] = len(target.elts)
        self.generic_visit(node)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        if isinstance(node.target, ast.Name):
            self.scope.refs.append(Ref(node.target.id, node.lineno, self.guarded))
            self._bind(node.target.id)
        else:
            self.visit(node.target)
        self.visit(node.value)

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> None:
        if node.type is not None:
            self.visit(node.type)
        if node.name is not None:
            self._bind(node.name)
        for s in node.body:
            self.visit(s)

    def _try(self, node: ast.Try | ast.TryStar) -> None:
        saved = self.guarded, self.guarded_call
        self.guarded = self.guarded or catches(node.handlers, NameError)
        self.guarded_call = self.guarded_call or catches(node.handlers, TypeError)
        for s in node.body:
            self.visit(s)
        self.guarded, self.guarded_call = saved
        for n in [*node.handlers, *node.orelse, *node.finalbody]:
            self.visit(n)

    visit_Try = _try
    visit_TryStar = _try

    def _with(self, node: ast.With | ast.AsyncWith) -> None:
        for item in node.items:
            self.visit(item)
        saved = self.guarded, self.guarded_call
        self.guarded = self.guarded or any(_suppresses(i.context_expr, NameError) for i in node.items)
        self.guarded_call = self.guarded_call or any(
            _suppresses(i.context_expr, TypeError) for i in node.items
        )
        for s in node.body:
            self.visit(s)
        self.guarded, self.guarded_call = saved

    visit_With = _with
    visit_AsyncWith = _with

    def visit_MatchAs(self, node: ast.MatchAs) -> None:
        if node.pattern is not None:
            self.visit(node.pattern)
        if node.name is not None:
            self._bind(node.name)

    def visit_MatchStar(self, node: ast.MatchStar) -> None:
        if node.name is not None:
            self._bind(node.name)

    def visit_MatchMapping(self, node: ast.MatchMapping) -> None:
        for n in [*node.keys, *node.patterns]:
            self.visit(n)
        if node.rest is not None:
            self._bind(node.rest)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if node.attr in _DYNAMIC_ATTRS or (
            node.attr == "modules" and isinstance(node.value, ast.Name) and node.value.id == "sys"
        ):
            self._mark(f".{node.attr}", node)
        if isinstance(node.ctx, ast.Load) and isinstance(node.value, ast.Name):
            self.attributes_read.append((node.value.id, node.attr, node.lineno))
        self.visit(node.value)

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        if isinstance(func, ast.Name) and func.id == "vars" and not node.args:
            self._mark("vars()", node)
        countable = not any(isinstance(a, ast.Starred) for a in node.args) and all(
            k.arg is not None for k in node.keywords
        )
        if countable:
            kws = tuple(k.arg for k in node.keywords if k.arg is not None)
            unpacked = self.unpacking.get(id(node))
            args = (node.lineno, len(node.args), kws, self.guarded_call)
            if isinstance(func, ast.Name):
                self.scope.calls.append(CallSite(func.id, *args, None, unpacked))
            elif isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
                self.scope.attribute_calls.append(CallSite(func.attr, *args, func.value.id, unpacked))
        self.generic_visit(node)

    def visit_Return(self, node: ast.Return) -> None:
        self.scope.returns.append(node)
        self.generic_visit(node)

    def _yield(self, node: ast.Yield | ast.YieldFrom | ast.Await) -> None:
        self.scope.generator = True
        self.generic_visit(node)

    visit_Yield = _yield
    visit_YieldFrom = _yield
    visit_Await = _yield

    def visit_Constant(self, node: ast.Constant) -> None:
        pass  # also skips NodeVisitor's slow compatibility shim for the old constant node types

    def visit_TypeAlias(self, node: ast.AST) -> None:  # Python 3.12+
        self._mark("a type alias statement", node)

    # ast.NodeVisitor looks each method up by name on every node; a table per node class is several times faster,
    # and this pass runs on every proposal.
    def visit(self, node: ast.AST) -> None:
        method = _VISITS.get(type(node))
        if method is None:
            self.generic_visit(node)
        else:
            method(self, node)

    def generic_visit(self, node: ast.AST) -> None:
        for name in node._fields:
            value = getattr(node, name, None)
            if isinstance(value, ast.AST):
                self.visit(value)
            elif isinstance(value, list):
                for item in value:
                    if isinstance(item, ast.AST):
                        self.visit(item)


_VISITS: dict[type[ast.AST], Callable[[_Binder, Any], None]] = {
    node_class: getattr(_Binder, name)
    for name in dir(_Binder)
    if name.startswith("visit_") and isinstance(node_class := getattr(ast, name[6:], None), type)
}


def _all_args(args: ast.arguments) -> list[ast.arg]:
    extra = [a for a in (args.vararg, args.kwarg) if a is not None]
    return [*args.posonlyargs, *args.args, *args.kwonlyargs, *extra]


@functools.lru_cache(maxsize=CACHE)
def analyse(text: str) -> ModuleInfo | None:
    """The scopes of a Python module's text; None when it does not parse or is too deep to walk."""
    tree = parsed(text)
    if not isinstance(tree, ast.Module):
        return None
    binder = _Binder(tree)
    try:
        binder.visit(tree)
    except RecursionError:
        return None  # deeper than this interpreter walks: not judged
    root = binder.root
    bound = set(root.bound)
    for s in root.walk():
        bound.update(s.declared_global & s.bound)
    return ModuleInfo(
        root,
        binder.dynamic,
        frozenset(bound),
        binder.bindings,
        binder.defs,
        frozenset(binder.imported),
        tuple(binder.attributes_read),
        binder.walrus,
    )


def undefined(info: ModuleInfo) -> list[tuple[Scope, Ref]]:
    """Reads of names that nothing binds where Python looks them up, in source order.

    The caller decides what a dynamic module's list is worth (see :attr:`ModuleInfo.dynamic`)."""
    known = info.module_bound | BUILTINS | _MODULE_NAMES
    out: list[tuple[Scope, Ref]] = []
    for scope in info.root.walk():
        if scope.opaque:
            continue
        for ref in scope.refs:
            if ref.guarded or ref.name in known or (scope.kind == "class" and ref.name in _CLASS_NAMES):
                continue
            if scope.lookup(ref.name) is None:
                out.append((scope, ref))
    out.sort(key=lambda sr: sr[1].line)
    return out
