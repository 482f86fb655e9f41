"""Mutation operators for mutation testing: every site of a module, one mutant each, deterministic.

godel's own :class:`~godel.propose.MutationProposer` is a search operator (it draws random edits, tunes constants on
a log scale, several at once); mutation testing needs the opposite: each site enumerated once, one small fault per
mutant, the same set every time. These classic operators (relational, arithmetic, boolean, constant, return) do
that in a few lines, without a third-party tool writing into the project's tree.
"""

from __future__ import annotations

import ast
import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

__all__ = ["Mutant", "mutants_of", "sample_mutants"]

_COMPARE = {
    ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt, ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq, ast.In: ast.NotIn, ast.NotIn: ast.In, ast.Is: ast.IsNot, ast.IsNot: ast.Is,
}  # fmt: skip
_BINARY = {
    ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.FloorDiv, ast.Div: ast.Mult, ast.FloorDiv: ast.Mult,
    ast.Mod: ast.FloorDiv, ast.Pow: ast.Mult, ast.BitAnd: ast.BitOr, ast.BitOr: ast.BitAnd,
}  # fmt: skip


@dataclass(frozen=True)
class Mutant:
    path: str
    line: int
    description: str
    text: str  # the whole mutated module

    def to_dict(self) -> dict[str, object]:
        return {"path": self.path, "line": self.line, "description": self.description, "text": self.text}


def _sites(tree: ast.Module) -> Iterator[tuple[ast.AST, str]]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare) and type(node.ops[0]) in _COMPARE:
            yield node, f"{type(node.ops[0]).__name__} -> {_COMPARE[type(node.ops[0])].__name__}"
        elif isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            yield node, f"{type(node.op).__name__} -> {_BINARY[type(node.op)].__name__}"
        elif isinstance(node, ast.BoolOp):
            yield node, "and -> or" if isinstance(node.op, ast.And) else "or -> and"
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            yield node, "not x -> x"
        elif isinstance(node, ast.Constant) and type(node.value) in (int, bool):
            yield node, f"{node.value!r} -> {_constant(node.value)!r}"
        elif (
            isinstance(node, ast.Return)
            and node.value is not None
            and not (isinstance(node.value, ast.Constant) and node.value.value is None)
        ):
            yield node, "return x -> return None"


def _constant(value: object) -> int | bool:
    if isinstance(value, bool):
        return not value
    assert isinstance(value, int)
    return value + 1


def _mutate(node: ast.AST) -> ast.AST:
    if isinstance(node, ast.Compare):
        node.ops[0] = _COMPARE[type(node.ops[0])]()
        return node
    if isinstance(node, ast.BinOp):
        node.op = _BINARY[type(node.op)]()
        return node
    if isinstance(node, ast.BoolOp):
        node.op = ast.Or() if isinstance(node.op, ast.And) else ast.And()
        return node
    if isinstance(node, ast.UnaryOp):
        return node.operand
    if isinstance(node, ast.Constant):
        node.value = _constant(node.value)
        return node
    assert isinstance(node, ast.Return)
    node.value = ast.Constant(None)
    return node


def mutants_of(path: str, source: str) -> list[Mutant]:
    """One mutant per site of ``source`` (empty when it does not parse); docstrings and annotations untouched."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    skip = _untouchable(tree)
    out: list[Mutant] = []
    sites = [(i, node, what) for i, (node, what) in enumerate(_sites(tree)) if id(node) not in skip]
    for i, _node, what in sites:
        copy = ast.parse(source)
        target, _ = list(_sites(copy))[i]
        line = getattr(target, "lineno", 0)
        _swap(copy, target, _mutate(target))
        try:
            text = ast.unparse(ast.fix_missing_locations(copy))
        except (ValueError, TypeError):
            continue
        out.append(Mutant(path, line, f"line {line}: {what}", text))
    return out


def _untouchable(tree: ast.Module) -> set[int]:
    """Nodes whose mutation changes nothing observable or breaks the module: annotations, defaults of ``__slots__``,
    ``if __name__ == "__main__"`` guards."""
    skip: set[int] = set()
    for node in ast.walk(tree):
        for ann in (getattr(node, "annotation", None), getattr(node, "returns", None)):
            if isinstance(ann, ast.AST):
                skip.update(id(n) for n in ast.walk(ann))
        if isinstance(node, ast.If) and "__name__" in ast.unparse(node.test):
            skip.update(id(n) for n in ast.walk(node.test))
    return skip


def _swap(tree: ast.AST, old: ast.AST, new: ast.AST) -> None:
    if old is new:
        return
    for parent in ast.walk(tree):
        for field, value in ast.iter_fields(parent):
            if value is old:
                setattr(parent, field, new)
                return
            if isinstance(value, list):
                for j, item in enumerate(value):
                    if item is old:
                        value[j] = new
                        return


def sample_mutants(mutants: Sequence[Mutant], limit: int) -> list[Mutant]:
    """At most ``limit`` of ``mutants``, the same ones whatever order they came in (chosen by a hash of each)."""
    ranked = sorted(
        mutants, key=lambda m: hashlib.sha256(f"{m.path}:{m.description}:{m.text}".encode()).hexdigest()
    )
    return sorted(ranked[:limit], key=lambda m: (m.path, m.line, m.description))
