"""One AST walk per file that collects everything the checks look at (imports, calls, strings, assignments...)."""

from __future__ import annotations

import ast
import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass, field

from godel._syntax import parse_python

__all__ = ["Source", "dotted", "parse_source"]

_EXEC_FUNCS = {"exec", "eval", "compile", "builtins.exec", "builtins.eval", "builtins.compile"}
_MAX_NESTED = 3


def dotted(node: ast.AST, aliases: dict[str, str]) -> str | None:
    """``os.path.join`` for ``p.join`` after ``import os.path as p``; None when not a plain name chain."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    base = aliases.get(node.id, node.id)
    return ".".join([base, *reversed(parts)])


@dataclass
class Source:
    path: str
    text: str
    error: str | None = None
    aliases: dict[str, str] = field(default_factory=dict)  # local name -> imported dotted name
    imports: list[tuple[str, int]] = field(default_factory=list)  # module (or module.name for from-imports)
    calls: list[tuple[ast.Call, str | None]] = field(default_factory=list)
    attrs: list[tuple[ast.Attribute, str | None]] = field(default_factory=list)
    names: list[ast.Name] = field(default_factory=list)
    strings: list[tuple[str, int]] = field(default_factory=list)  # str constants that are not docstrings
    numbers: list[tuple[float | int, int]] = field(default_factory=list)
    stores: list[ast.stmt] = field(default_factory=list)  # Assign / AugAssign / AnnAssign / Delete
    funcs: list[ast.FunctionDef | ast.AsyncFunctionDef] = field(default_factory=list)
    classes: list[ast.ClassDef] = field(default_factory=list)
    asserts: list[ast.Assert] = field(default_factory=list)
    containers: list[ast.expr] = field(default_factory=list)  # outermost literal list/tuple/set/dict
    module_dicts: dict[str, ast.Dict] = field(default_factory=dict)  # NAME = {...} at module level
    raises: list[ast.Raise] = field(default_factory=list)
    ifs: list[ast.If] = field(default_factory=list)
    subscripts: list[ast.Subscript] = field(default_factory=list)
    params: set[str] = field(default_factory=set)  # argument names of every function

    @property
    def ok(self) -> bool:
        return self.error is None


def _docstring_ids(tree: ast.AST) -> set[int]:
    ids: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            body = node.body
            first = body[0] if body else None
            if (
                isinstance(first, ast.Expr)
                and isinstance(first.value, ast.Constant)
                and isinstance(first.value.value, str)
            ):
                ids.add(id(first.value))
    return ids


def _is_const_container(node: ast.AST) -> bool:
    if isinstance(node, ast.Constant):
        return True
    if isinstance(node, ast.UnaryOp) and isinstance(node.operand, ast.Constant):
        return True
    if isinstance(node, ast.List | ast.Tuple | ast.Set):
        return all(_is_const_container(e) for e in node.elts)
    if isinstance(node, ast.Dict):
        return all(k is not None and _is_const_container(k) for k in node.keys) and all(
            _is_const_container(v) for v in node.values
        )
    return False


def _collect(src: Source, tree: ast.AST, line_offset: int, depth: int) -> None:
    docs = _docstring_ids(tree)
    inside_container: set[int] = set()
    for node in ast.walk(tree):
        if line_offset and hasattr(node, "lineno"):
            # Code compiled from a string literal: report it at the line of the exec/eval that runs it.
            node.lineno = line_offset
        if isinstance(node, ast.Import):
            for a in node.names:
                src.imports.append((a.name, node.lineno))
                if a.asname:
                    src.aliases[a.asname] = a.name
                else:
                    top = a.name.split(".")[0]
                    src.aliases[top] = top
        elif isinstance(node, ast.ImportFrom):
            mod = ("." * node.level) + (node.module or "")
            src.imports.append((mod, node.lineno))
            for a in node.names:
                full = f"{mod}.{a.name}" if mod else a.name
                if a.name != "*":
                    src.imports.append((full, node.lineno))
                    src.aliases[a.asname or a.name] = full
        elif isinstance(node, ast.Call):
            name = dotted(node.func, src.aliases)
            src.calls.append((node, name))
            if (
                name in _EXEC_FUNCS
                and depth < _MAX_NESTED
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
            ):
                try:
                    inner = parse_python(node.args[0].value)
                except SyntaxError:
                    pass  # compile()/exec() of invalid code fails at run time; nothing hidden in it
                else:
                    _collect(src, inner, node.lineno, depth + 1)
        elif isinstance(node, ast.Attribute):
            src.attrs.append((node, dotted(node, src.aliases)))
        elif isinstance(node, ast.Name):
            src.names.append(node)
        elif isinstance(node, ast.Constant):
            if isinstance(node.value, str) and id(node) not in docs:
                src.strings.append((node.value, node.lineno))
            elif isinstance(node.value, int | float) and not isinstance(node.value, bool):
                src.numbers.append((node.value, node.lineno))
        elif isinstance(node, ast.Assign | ast.AugAssign | ast.AnnAssign | ast.Delete):
            src.stores.append(node)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            src.funcs.append(node)
            fa = node.args
            src.params.update(x.arg for x in (*fa.posonlyargs, *fa.args, *fa.kwonlyargs))
            if fa.vararg:
                src.params.add(fa.vararg.arg)
        elif isinstance(node, ast.If):
            src.ifs.append(node)
        elif isinstance(node, ast.Subscript):
            src.subscripts.append(node)
        elif isinstance(node, ast.ClassDef):
            src.classes.append(node)
        elif isinstance(node, ast.Assert):
            src.asserts.append(node)
        elif isinstance(node, ast.Raise):
            src.raises.append(node)
        if (
            isinstance(node, ast.List | ast.Tuple | ast.Set | ast.Dict)
            and id(node) not in inside_container
            and _is_const_container(node)
        ):
            src.containers.append(node)
            for sub in ast.walk(node):
                inside_container.add(id(sub))
    if depth == 0 and isinstance(tree, ast.Module):
        for stmt in tree.body:
            if (
                isinstance(stmt, ast.Assign)
                and isinstance(stmt.value, ast.Dict)
                and len(stmt.targets) == 1
                and isinstance(stmt.targets[0], ast.Name)
            ):
                src.module_dicts[stmt.targets[0].id] = stmt.value


_CACHE: OrderedDict[tuple[str, str], Source] = OrderedDict()
_CACHE_SIZE = 512
_CACHE_LOCK = threading.Lock()


def parse_source(path: str, text: str) -> Source:
    """The facts of one file; cached (by path and content) because every child of a parent re-reads the parent."""
    key = (path, hashlib.sha256(text.encode()).hexdigest())
    with _CACHE_LOCK:
        hit = _CACHE.get(key)
        if hit is not None:
            _CACHE.move_to_end(key)
            return hit
    src = _parse(path, text)
    with _CACHE_LOCK:
        _CACHE[key] = src
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return src


def _parse(path: str, text: str) -> Source:
    src = Source(path, text)
    try:
        tree = parse_python(text, filename=path)
    except SyntaxError as exc:
        src.error = f"{path}:{exc.lineno}: {exc.msg}"
        return src
    except (ValueError, RecursionError) as exc:
        src.error = f"{path}: {exc}"
        return src
    _collect(src, tree, 0, 0)
    return src
