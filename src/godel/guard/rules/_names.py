"""Imports and calls: modules, functions, attributes and methods a constitution forbids by name."""

from __future__ import annotations

import ast

from pydantic import Field

from godel.guard.rules._base import Context, Finding, Params, check, match

__all__ = ["CallsParams", "ImportsParams", "forbidden_calls", "forbidden_imports"]


class ImportsParams(Params):
    modules: tuple[str, ...] = ()


@check("forbidden_imports", ImportsParams, "imports of modules that reach outside the program")
def forbidden_imports(ctx: Context, p: ImportsParams) -> list[Finding]:
    out = []
    for path, src in ctx.child.items():
        for mod, line in src.imports:
            hit = match(mod.lstrip("."), p.modules)
            if hit:
                out.append(Finding("forbidden_imports", f"imports {mod} (forbidden: {hit})", path, line))
    return out


class CallsParams(Params):
    names: tuple[str, ...] = Field((), description="dotted names (globs allowed) that must not be used")
    attributes: tuple[str, ...] = Field(
        (), description="attribute names that must not be accessed on anything"
    )
    methods: tuple[str, ...] = Field((), description="method names that must not be called on anything")


@check("forbidden_calls", CallsParams, "use of forbidden functions, attributes and dunders")
def forbidden_calls(ctx: Context, p: CallsParams) -> list[Finding]:
    out = []
    attrs = set(p.attributes)
    methods = set(p.methods)
    for path, src in ctx.child.items():
        seen: set[tuple[str, int]] = set()

        def hit(msg: str, line: int, path: str = path, seen: set[tuple[str, int]] = seen) -> None:
            if (msg, line) not in seen:
                seen.add((msg, line))
                out.append(Finding("forbidden_calls", msg, path, line))

        for imp, line in src.imports:
            m = match(imp, p.names)
            if m:
                hit(f"imports {imp} (forbidden: {m})", line)
        for node, name in src.attrs:
            m = match(name, p.names)
            if m:
                hit(f"uses {name} (forbidden: {m})", node.lineno)
            if node.attr in attrs:
                hit(f"accesses attribute {node.attr}", node.lineno)
        for n in src.names:
            m = match(src.aliases.get(n.id, n.id), p.names)
            if m:
                hit(f"uses {n.id} (forbidden: {m})", n.lineno)
            if n.id in attrs:
                hit(f"uses {n.id}", n.lineno)
        for call, _ in src.calls:
            if isinstance(call.func, ast.Attribute) and call.func.attr in methods:
                hit(f"calls .{call.func.attr}()", call.lineno)
        for s, line in src.strings:
            if s in attrs:
                hit(f"names {s} in a string", line)
    return out
