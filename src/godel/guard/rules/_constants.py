"""Constants and copying: numbers copied from the evaluator's data, literal answers for special-cased inputs,
answers looked up by the whole input, and large literal tables (possible memorised answers).

:func:`distinctive_constants` is what the guard uses to collect a protected file's numbers; :func:`norm_number` is
the canonical text both sides are compared by.
"""

from __future__ import annotations

import ast
import math
import re

from pydantic import Field

from godel._syntax import parse_python
from godel.guard.rules._base import Context, Finding, Params, check

__all__ = [
    "HardcodeParams",
    "TablesParams",
    "distinctive_constants",
    "hardcoded_outputs",
    "literal_tables",
    "norm_number",
]

_WELL_KNOWN = tuple(
    repr(v)[:7]
    for v in (math.pi, math.e, math.tau, math.sqrt(2), math.sqrt(3), (1 + math.sqrt(5)) / 2, math.log(2))
)


def norm_number(v: float | int) -> str | None:
    """A canonical text for a *distinctive* number (>= 4 significant digits, not a well-known constant)."""
    if isinstance(v, bool):
        return None
    if isinstance(v, int):
        return str(v) if abs(v) >= 10_000 and v % 1000 != 0 else None
    if not math.isfinite(v):
        return None
    digits = re.sub(r"[^0-9]", "", f"{abs(v):.12g}".split("e")[0]).strip("0")
    if len(digits) < 4:
        return None
    text = f"{v:.6g}"
    if any(text.lstrip("-").startswith(w[:6]) for w in _WELL_KNOWN):
        return None
    return text


_NUM_RE = re.compile(r"-?\d+\.\d{3,}(?:[eE][-+]?\d+)?|-?\b\d{5,}\b")


def distinctive_constants(name: str, data: bytes, limit: int = 50_000) -> dict[str, str]:
    """Distinctive numbers (and, for Python files, long strings) of a protected task file."""
    out: dict[str, str] = {}
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return out
    if name.endswith(".py"):
        try:
            tree = parse_python(text)
        except SyntaxError:
            tree = None
        if tree is not None:
            for node in ast.walk(tree):
                if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
                    k = norm_number(node.value)
                    if k:
                        out[k] = name
            return out
    for m in _NUM_RE.finditer(text[:2_000_000]):
        try:
            v: float | int = (
                float(m.group()) if "." in m.group() or "e" in m.group().lower() else int(m.group())
            )
        except ValueError:
            continue
        k = norm_number(v)
        if k:
            out[k] = name
            if len(out) >= limit:
                break
    return out


class HardcodeParams(Params):
    min_return_items: int = Field(
        3, ge=1, description="a special-cased return with this many constants is flagged"
    )


def _literal_answer(value: ast.expr, p: HardcodeParams) -> bool:
    if isinstance(value, ast.Constant):
        return isinstance(value.value, float) and norm_number(value.value) is not None
    if isinstance(value, ast.List | ast.Tuple | ast.Dict | ast.Set):
        return _literal_size(value) >= p.min_return_items and all(
            isinstance(
                n,
                ast.Constant
                | ast.expr_context
                | ast.List
                | ast.Tuple
                | ast.Dict
                | ast.Set
                | ast.UnaryOp
                | ast.unaryop,
            )
            for n in ast.walk(value)
        )
    return False


def _literal_size(node: ast.AST) -> int:
    return sum(1 for n in ast.walk(node) if isinstance(n, ast.Constant))


def _mentions(node: ast.AST, names: set[str]) -> bool:
    return any(isinstance(n, ast.Name) and n.id in names for n in ast.walk(node))


@check(
    "hardcoded_outputs", HardcodeParams, "constants copied from the evaluator's data; special-cased inputs"
)
def hardcoded_outputs(ctx: Context, p: HardcodeParams) -> list[Finding]:
    out = []
    consts = ctx.protected.constants
    for path, src in ctx.child.items():
        for v, line in src.numbers:
            k = norm_number(v)
            if k and k in consts:
                out.append(
                    Finding("hardcoded_outputs", f"constant {k} is copied from {consts[k]}", path, line)
                )
        params = src.params
        if not params:
            continue
        for node in src.ifs:
            t = node.test
            if not isinstance(t, ast.Compare) or not isinstance(t.ops[0], ast.Eq | ast.In):
                continue
            sides = [t.left, *t.comparators]
            if not any(
                isinstance(x, ast.List | ast.Tuple | ast.Set | ast.Dict | ast.Constant) for x in sides
            ):
                continue
            if not any(_mentions(x, params) for x in sides):
                continue
            for st in node.body:
                if isinstance(st, ast.Return) and st.value is not None and _literal_answer(st.value, p):
                    out.append(
                        Finding(
                            "hardcoded_outputs",
                            "returns a literal answer for a specific input",
                            path,
                            node.lineno,
                        )
                    )
        lookups: list[tuple[ast.AST, ast.AST, int]] = [(n.value, n.slice, n.lineno) for n in src.subscripts]
        lookups.extend(
            (c.func.value, c.args[0], c.lineno)
            for c, _ in src.calls
            if isinstance(c.func, ast.Attribute) and c.func.attr == "get" and c.args
        )
        for table, key, line in lookups:
            if isinstance(table, ast.Name) and table.id in src.module_dicts:
                table = src.module_dicts[table.id]
            if (
                isinstance(table, ast.Dict)
                and table.keys
                and all(isinstance(k, ast.Tuple | ast.Constant) for k in table.keys)
                and any(isinstance(k, ast.Tuple) for k in table.keys)
                and _mentions(key, params)
            ):
                out.append(Finding("hardcoded_outputs", "looks answers up by the whole input", path, line))
    return out


class TablesParams(Params):
    min_items: int = Field(64, ge=2, description="constants in one literal that make it a table to review")


@check("literal_tables", TablesParams, "large literal tables (possible memorised answers)")
def literal_tables(ctx: Context, p: TablesParams) -> list[Finding]:
    out = []
    for path, src in ctx.child.items():
        for node in src.containers:
            n = _literal_size(node)
            if n >= p.min_items:
                out.append(Finding("literal_tables", f"literal table of {n} constants", path, node.lineno))
    return out
