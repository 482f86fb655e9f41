"""Monkeypatching: assignments to imported modules, builtins, ``sys.modules`` or ``globals()``; ``setattr`` on them;
and objects whose comparison dunders return a constant (equal to everything, so any check passes)."""

from __future__ import annotations

import ast

from pydantic import Field

from godel.guard._source import Source, dotted
from godel.guard.rules._base import Context, Finding, Params, check, is_const

__all__ = ["PatchParams", "monkeypatch"]

_CMP_DUNDERS = (
    "__eq__",
    "__ne__",
    "__lt__",
    "__le__",
    "__gt__",
    "__ge__",
    "__contains__",
    "__bool__",
    "__len__",
)


class PatchParams(Params):
    protect_local_classes: bool = Field(
        True, description="also flag comparison dunders that return a constant (objects equal to everything)"
    )


def _patch_target(target: ast.expr, src: Source) -> str | None:
    if isinstance(target, ast.Attribute):
        base: ast.expr = target
        while isinstance(base, ast.Attribute):
            base = base.value
        if isinstance(base, ast.Name) and (base.id in src.aliases or base.id in ("__builtins__", "builtins")):
            return dotted(target, src.aliases)
    if isinstance(target, ast.Subscript):
        v = target.value
        name = dotted(v, src.aliases)
        if name in ("__builtins__", "sys.modules", "builtins.__dict__") or (
            isinstance(v, ast.Attribute) and v.attr == "__dict__"
        ):
            return f"{name or '...'}[...]"
        if isinstance(v, ast.Call) and dotted(v.func, src.aliases) in ("globals", "vars", "locals"):
            return f"{dotted(v.func, src.aliases)}()[...]"
    return None


@check("monkeypatch", PatchParams, "patching imported modules, builtins, the scorer; always-equal objects")
def monkeypatch(ctx: Context, p: PatchParams) -> list[Finding]:
    out = []
    for path, src in ctx.child.items():
        for st in src.stores:
            targets: list[ast.expr] = []
            if isinstance(st, ast.Assign):
                targets = list(st.targets)
            elif isinstance(st, ast.AugAssign | ast.AnnAssign):
                targets = [st.target]
            elif isinstance(st, ast.Delete):
                targets = list(st.targets)
            for t in targets:
                for sub in ast.walk(t) if isinstance(t, ast.Tuple | ast.List) else [t]:
                    if isinstance(sub, ast.expr):
                        name = _patch_target(sub, src)
                        if name:
                            out.append(Finding("monkeypatch", f"assigns to {name}", path, st.lineno))
        for call, name in src.calls:
            if name in ("setattr", "delattr", "object.__setattr__") and call.args:
                t = call.args[0]
                if isinstance(t, ast.Name) and (t.id in src.aliases or t.id in ("__builtins__", "builtins")):
                    out.append(Finding("monkeypatch", f"{name}() on imported {t.id}", path, call.lineno))
                elif isinstance(t, ast.Call):
                    out.append(Finding("monkeypatch", f"{name}() on a computed object", path, call.lineno))
        if not p.protect_local_classes:
            continue
        for cls in src.classes:
            for item in cls.body:
                if isinstance(item, ast.FunctionDef) and item.name in _CMP_DUNDERS:
                    rets = [n for n in ast.walk(item) if isinstance(n, ast.Return)]
                    if rets and all(is_const(r.value) for r in rets):
                        out.append(
                            Finding(
                                "monkeypatch", f"{cls.name}.{item.name} returns a constant", path, item.lineno
                            )
                        )
                elif (
                    isinstance(item, ast.Assign)
                    and isinstance(item.value, ast.Lambda)
                    and any(isinstance(t, ast.Name) and t.id in _CMP_DUNDERS for t in item.targets)
                    and is_const(item.value.body)
                ):
                    out.append(
                        Finding("monkeypatch", f"{cls.name} compares as a constant", path, item.lineno)
                    )
    return out
