"""Local mutations: small AST-guided edits that need no model at all.

The mutator finds *mutation points* in the evolvable regions (numeric and boolean literals, comparison and
arithmetic operators, ``range`` stop arguments, ``min``/``max`` calls, signs of literals) and rewrites only the
source span of each, so comments and formatting survive. Numeric constants move by a step whose scale is drawn
log-uniformly: most steps are small refinements, some are large jumps, which is what makes greedy or DGM search over
tunable constants productive. Everything is driven by the ``random.Random`` passed in, so a seed reproduces a run.
"""

from __future__ import annotations

import ast
import math
import random
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from godel._syntax import parse_expression, parse_python, syntax_error
from godel.candidate import Program, Proposal
from godel.config import ProposerConfig
from godel.propose._base import ProposalContext, Proposer
from godel.task import Region

__all__ = ["MutationProposer"]

# Relative chance of each kind of mutation point being picked; constants dominate because tuning them is what local
# search is good at, while flipping operators or signs is usually destructive and so kept rare.
_WEIGHTS = {
    "float": 5.0,
    "int": 4.0,
    "range": 3.0,
    "compare": 1.0,
    "bool": 1.0,
    "minmax": 0.7,
    "arith": 0.4,
    "negate": 0.4,
}
_MAX_ATTEMPTS = 12

_COMPARE_TEXT = {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!="}
# Same-direction swaps (< to <=) are near-neutral refinements, so they come first and are drawn more often.
_COMPARE_SWAPS = {
    "<": ("<=", ">"),
    "<=": ("<", ">="),
    ">": (">=", "<"),
    ">=": (">", "<="),
    "==": ("!=",),
    "!=": ("==",),
}
_ARITH_TEXT = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/"}
_ARITH_SWAPS = {"+": "-", "-": "+", "*": "/", "/": "*"}
_OP_GAP = r"[\s()\\]*"


@dataclass(frozen=True)
class _Site:
    """A mutation point: the character span ``start:end`` of ``path`` and what kind of edit it admits."""

    path: str
    start: int
    end: int
    line: int  # 1-based, for the description
    kind: str
    text: str  # the current source of the span


class _Offsets:
    """Converts AST (line, UTF-8 byte column) positions to character offsets into the source text."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.lines = text.splitlines(keepends=True)
        self.starts = [0]
        for line in self.lines:
            self.starts.append(self.starts[-1] + len(line))

    def at(self, lineno: int, col: int) -> int:
        line = self.lines[lineno - 1] if 0 < lineno <= len(self.lines) else ""
        return self.starts[lineno - 1] + len(line.encode()[:col].decode(errors="replace"))


def _span(node: ast.AST, off: _Offsets) -> tuple[int, int] | None:
    end_lineno = getattr(node, "end_lineno", None)
    end_col = getattr(node, "end_col_offset", None)
    lineno = getattr(node, "lineno", None)
    col = getattr(node, "col_offset", None)
    if lineno is None or col is None or end_lineno is None or end_col is None:
        return None
    return off.at(lineno, col), off.at(end_lineno, end_col)


def _walk(node: ast.AST, parent: ast.AST | None = None) -> Iterator[tuple[ast.AST, ast.AST | None]]:
    """Nodes with their parents, in a fixed order, skipping f-strings (their inner positions are not source)."""
    yield node, parent
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.JoinedStr):
            continue
        yield from _walk(child, node)


def _within(regions: Sequence[Region], node: ast.AST) -> bool:
    first = getattr(node, "lineno", 0) - 1
    last = (getattr(node, "end_lineno", None) or first + 1) - 1
    return any(r.start <= first and last < r.end for r in regions)


def _operator_site(
    path: str, off: _Offsets, left: ast.AST, right: ast.AST, op: str, kind: str
) -> _Site | None:
    a, b = _span(left, off) or (0, 0), _span(right, off) or (0, 0)
    gap = off.text[a[1] : b[0]]
    m = re.fullmatch(_OP_GAP + "(" + re.escape(op) + ")" + _OP_GAP, gap)
    if m is None:
        return None
    start = a[1] + m.start(1)
    line = off.text.count("\n", 0, start) + 1
    return _Site(path, start, start + len(op), line, kind, op)


def _is_text(node: ast.AST) -> bool:
    return isinstance(node, ast.JoinedStr) or (
        isinstance(node, ast.Constant) and isinstance(node.value, str | bytes)
    )


def _is_simple(node: ast.AST) -> bool:
    return isinstance(node, ast.Name | ast.Attribute | ast.Call | ast.Constant | ast.Subscript)


def _sites(path: str, text: str, regions: Sequence[Region]) -> list[_Site]:
    try:
        tree = parse_python(text)
    except SyntaxError:
        return []
    off = _Offsets(text)
    out: list[_Site] = []

    def add(node: ast.AST, kind: str) -> None:
        span = _span(node, off)
        if span is not None and span[1] > span[0]:
            out.append(
                _Site(path, span[0], span[1], getattr(node, "lineno", 0), kind, text[span[0] : span[1]])
            )

    for node, parent in _walk(tree):
        if not _within(regions, node):
            continue
        if isinstance(node, ast.Constant):
            if isinstance(node.value, bool):
                add(node, "bool")
            elif type(node.value) in (int, float):
                # An index picks a structural element (bounds[0]); changing it breaks rather than tunes.
                if isinstance(parent, ast.Subscript) and parent.slice is node:
                    continue
                is_float = isinstance(node.value, float)
                add(node, "float" if is_float else "int")
                # Ints are mostly counts and sizes, where a negative value is meaningless; only floats flip sign.
                if is_float and not (isinstance(parent, ast.UnaryOp) and isinstance(parent.op, ast.USub)):
                    add(node, "negate")
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            if isinstance(node.operand, ast.Constant) and type(node.operand.value) in (int, float):
                add(node, "negate")
        elif isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
            for i, op in enumerate(node.ops):
                sym = _COMPARE_TEXT.get(type(op))
                if sym is not None:
                    site = _operator_site(path, off, operands[i], operands[i + 1], sym, "compare")
                    if site is not None:
                        out.append(site)
        elif isinstance(node, ast.BinOp):
            sym = _ARITH_TEXT.get(type(node.op))
            # "a" + b is concatenation; "-" there is a guaranteed TypeError, not a variant worth evaluating.
            if sym is not None and not any(_is_text(side) for side in (node.left, node.right)):
                site = _operator_site(path, off, node.left, node.right, sym, "arith")
                if site is not None:
                    out.append(site)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            if node.func.id in ("min", "max") and node.args:
                add(node.func, "minmax")
            elif node.func.id == "range" and 1 <= len(node.args) <= 3 and not node.keywords:
                stop = node.args[0] if len(node.args) == 1 else node.args[1]
                # A literal stop is already an "int" point; here the bound is an expression.
                if not (isinstance(stop, ast.Constant) and type(stop.value) is int):
                    span = _span(stop, off)
                    if span is not None:
                        out.append(
                            _Site(path, span[0], span[1], stop.lineno, "range", text[span[0] : span[1]])
                        )
    return out


def _format_float(value: float) -> str:
    text = repr(float(f"{value:.4g}"))
    return text if "inf" not in text and "nan" not in text else "1.0"


def _log_scale(rng: random.Random, low: float, high: float) -> float:
    return float(10 ** rng.uniform(low, high))


def _mutate_float(text: str, rng: random.Random) -> str:
    value = float(text.replace("_", ""))
    r = rng.random()
    if value == 0.0:
        new = _log_scale(rng, -3, 0)
    elif r < 0.7:
        # Multiplicative step with a log-uniform scale: from 0.3 % refinements to several-fold jumps.
        new = value * math.exp(rng.gauss(0.0, 1.0) * _log_scale(rng, -2.5, 0.2))
    elif r < 0.85:
        new = value + rng.gauss(0.0, 1.0) * _log_scale(rng, -3, 0)
    else:
        new = value * rng.choice((0.1, 0.5, 2.0, 10.0))
    return _format_float(abs(new))


def _mutate_int(text: str, rng: random.Random) -> str:
    value = int(text.replace("_", ""), 0)
    r = rng.random()
    if value == 0:
        new = rng.choice((1, 2))
    elif r < 0.25:
        new = value + 1
    elif r < 0.45:
        new = value - 1
    elif r < 0.6:
        new = value * 2
    elif r < 0.7:
        new = value // 2
    else:
        new = value + round(value * rng.gauss(0.0, 1.0) * _log_scale(rng, -1.5, 0))
    # Literals that were positive stay positive: a count or size of zero rarely helps and often divides by zero.
    return str(max(new, 1))


def _mutate_range(text: str, rng: random.Random) -> str:
    try:
        simple = _is_simple(parse_expression(text.strip()))
    except SyntaxError:  # a bound spanning lines inside brackets; parenthesised it is still an expression
        simple = False
    bound = text if simple else f"({text})"
    k = rng.choice((1, 1, 2, 5, 10))
    return rng.choice(
        (
            f"{bound} * 2",
            f"{bound} // 2",
            f"{bound} + {k}",
            f"max(1, {bound} - {k})",
            f"int({bound} * {_format_float(math.exp(rng.gauss(0.0, 0.5)))})",
        )
    )


def _replacement(site: _Site, rng: random.Random) -> str:
    kind, text = site.kind, site.text
    if kind == "float":
        return _mutate_float(text, rng)
    if kind == "int":
        return _mutate_int(text, rng)
    if kind == "bool":
        return "False" if text == "True" else "True"
    if kind == "compare":
        swaps = _COMPARE_SWAPS[text]
        return swaps[0] if len(swaps) == 1 or rng.random() < 0.7 else swaps[1]
    if kind == "arith":
        return _ARITH_SWAPS[text]
    if kind == "minmax":
        return "max" if text == "min" else "min"
    if kind == "range":
        return _mutate_range(text, rng)
    if kind == "negate":
        return text[1:].lstrip() if text.startswith("-") else f"(-{text})"
    raise AssertionError(f"unknown mutation kind {kind}")


def _pick(sites: Sequence[_Site], count: int, rng: random.Random) -> list[_Site]:
    """Up to ``count`` sites by weight, without replacement and with non-overlapping spans."""
    pool = list(sites)
    chosen: list[_Site] = []
    while pool and len(chosen) < count:
        weights = [_WEIGHTS[s.kind] for s in pool]
        site = rng.choices(pool, weights=weights)[0]
        pool.remove(site)
        if any(c.path == site.path and c.start < site.end and site.start < c.end for c in chosen):
            continue
        chosen.append(site)
    return chosen


class MutationProposer(Proposer):
    """Proposes a child by applying 1 to ``mutations_per_proposal`` local mutations (uniformly many) to the parent.

    Only code inside the task's evolvable regions changes; the result always parses. When the parent has no
    mutation point the proposal carries an error instead of a program.
    """

    name = "mutate"

    def __init__(self, config: ProposerConfig | None = None) -> None:
        self.config = config or ProposerConfig()

    def propose(self, ctx: ProposalContext, rng: random.Random) -> Proposal:
        program = ctx.parent.program
        regions = ctx.task.regions(program)
        by_path: dict[str, list[Region]] = {}
        for r in regions:
            by_path.setdefault(r.path, []).append(r)
        sites: list[_Site] = []
        for path in sorted(by_path):
            if path.endswith(".py") and path in program.files:
                sites.extend(_sites(path, program.files[path], by_path[path]))
        if not sites:
            return Proposal(
                program=None,
                proposer=self.name,
                error="no mutation point (number, boolean, comparison, arithmetic operator, range bound, min/max) "
                "in the evolvable regions",
            )
        multi = ctx.task.mode == "folder"
        for _attempt in range(_MAX_ATTEMPTS):
            count = rng.randint(1, self.config.mutations_per_proposal)
            chosen = _pick(sites, count, rng)
            files = dict(program.files)
            notes: list[tuple[str, int, int, str]] = []
            # Right to left within a file, so earlier offsets stay valid.
            for site in sorted(chosen, key=lambda s: (s.path, -s.start)):
                new = _replacement(site, rng)
                if new == site.text:
                    continue
                text = files[site.path]
                files[site.path] = text[: site.start] + new + text[site.end :]
                column = site.start - text.rfind("\n", 0, site.start)
                notes.append((site.path, site.line, column, f"{site.text} -> {new}"))
            child = Program(files)
            if child == program or not all(_parses(child, p) for p in {s.path for s in chosen}):
                continue
            notes.sort()
            return Proposal(
                program=child,
                proposer=self.name,
                edit=_describe(notes, multi),
                meta={"mutations": len(notes)},
            )
        return Proposal(
            program=None,
            proposer=self.name,
            error=f"no mutation of {len(sites)} points produced a new, parseable program in {_MAX_ATTEMPTS} attempts",
        )


def _parses(program: Program, path: str) -> bool:
    return syntax_error(program.files[path]) is None


def _describe(notes: Sequence[tuple[str, int, int, str]], multi: bool) -> str:
    """One line per mutation, ``line 12: 0.1 -> 0.137``; the column is added only where two share a line."""
    lines = [(path, line) for path, line, _c, _t in notes]
    out = []
    for path, line, column, change in notes:
        where = f"{path}:{line}" if multi else f"line {line}"
        if lines.count((path, line)) > 1:
            where += f" col {column}"
        out.append(f"{where}: {change}")
    return "\n".join(out)
