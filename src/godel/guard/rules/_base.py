"""What every check shares: the facts it reads (:class:`Context`), what it reports (:class:`Finding`), how it is
declared (:class:`Check`, made with :func:`check`), and the dotted-name matcher most of them use.

A check is a plain function ``(Context, Params) -> list[Finding]`` wrapped in a :class:`Check` that names it, says
which parameters a constitution may give it and summarises it; the registry of all checks is
:data:`godel.guard.rules.CHECKS`.
"""

from __future__ import annotations

import ast
import fnmatch
import functools
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict

from godel.guard._source import Source

__all__ = [
    "Check",
    "CheckFn",
    "Context",
    "Finding",
    "Params",
    "Protected",
    "check",
    "is_const",
    "is_str_literal",
    "match",
    "path_components",
]


@dataclass(frozen=True)
class Finding:
    check: str
    message: str  # no line numbers in it: it is the key that matches a parent's finding
    path: str
    line: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"check": self.check, "message": self.message, "path": self.path, "line": self.line}


@dataclass(frozen=True)
class Protected:
    """What the candidate must not touch: task files by name and hash, and the evaluator's distinctive data."""

    patterns: tuple[str, ...] = ()  # globs a program file path must not match
    names: frozenset[str] = frozenset()  # lower-case base names of protected files
    stems: frozenset[str] = frozenset()  # module names of protected .py files (evaluator, ...)
    hashes: Mapping[str, str] = field(default_factory=dict)  # sha256 -> protected path
    constants: Mapping[str, str] = field(default_factory=dict)  # normalised constant -> file it comes from


@dataclass
class Context:
    child: dict[str, Source]  # parsed .py files of the child, by path
    texts: Mapping[str, str]  # every file of the child
    parent: dict[str, Source]
    parent_texts: Mapping[str, str]
    protected: Protected
    markers: tuple[str, ...] = ()
    diff_lines: int = 0


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


CheckFn = Callable[[Context, Any], list[Finding]]
P = TypeVar("P", bound=Params)


@dataclass(frozen=True)
class Check:
    name: str
    params_model: type[Params]
    fn: CheckFn
    summary: str
    # A model-judged check: ``fn`` finds nothing by itself; the gate asks the run's model pool, after the static
    # checks passed (see godel.guard.rules._judge).
    judged: bool = False


def check(
    name: str, params_model: type[P], summary: str, *, judged: bool = False
) -> Callable[[Callable[[Context, P], list[Finding]]], Check]:
    """Declare the decorated function as the check ``name``; the decorated name is bound to the :class:`Check`."""

    def deco(fn: Callable[[Context, P], list[Finding]]) -> Check:
        return Check(name, params_model, fn, summary, judged)

    return deco


class _Matcher:
    """Dotted-name patterns: ``os.system`` matches itself and ``os.system.x``; ``os.exec*`` is a glob."""

    def __init__(self, patterns: tuple[str, ...]) -> None:
        self.exact = {p for p in patterns if "*" not in p and "?" not in p}
        globs = [p for p in patterns if p not in self.exact]
        self.globs = globs
        self.regex = re.compile("|".join(f"(?:{fnmatch.translate(g)})" for g in globs)) if globs else None

    def __call__(self, name: str) -> str | None:
        if "." not in name:
            if name in self.exact:
                return name
            return next((g for g in self.globs if fnmatch.fnmatchcase(name, g)), None) if self.globs else None
        parts = name.split(".")
        for i in range(len(parts), 0, -1):
            prefix = ".".join(parts[:i])
            if prefix in self.exact:
                return prefix
        if self.regex is not None and self.regex.match(name):
            return next(g for g in self.globs if fnmatch.fnmatchcase(name, g))
        return None


@functools.lru_cache(maxsize=256)
def _matcher(patterns: tuple[str, ...]) -> _Matcher:
    return _Matcher(patterns)


def match(name: str | None, patterns: Iterable[str]) -> str | None:
    """The pattern of ``patterns`` that the dotted ``name`` matches, or None."""
    if name is None:
        return None
    return _matcher(tuple(patterns))(name)


def is_const(node: ast.AST | None) -> bool:
    return isinstance(node, ast.Constant) or (
        isinstance(node, ast.UnaryOp)
        and isinstance(node.op, ast.Not)
        and isinstance(node.operand, ast.Constant)
    )


def is_str_literal(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str | bytes)


def path_components(s: str) -> list[str]:
    return [c for c in re.split(r"[/\\]+", s.lower()) if c]
