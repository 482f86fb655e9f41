"""Feature descriptors of candidates for MAP-Elites: the program's size and complexity, or the task's metrics.

A descriptor is read from the archive when the selector observes a candidate, so a selector rebuilt from the archive
(a resumed run, another worker) sees the same values. ``code_length`` is the characters of the program's Python
files; ``complexity`` the nodes of their syntax trees (``None`` when one does not parse); any other name is a metric
the evaluator reports (``None`` when the candidate has no such metric).
"""

from __future__ import annotations

import ast
import math
from collections.abc import Callable, Sequence

from godel.archive import Archive, CandidateRow
from godel.candidate import Program

__all__ = ["BUILTIN_FEATURES", "Describe", "archive_describer", "program_features"]

Describe = Callable[[CandidateRow], tuple[float | None, ...]]

BUILTIN_FEATURES = ("code_length", "complexity")


def program_features(program: Program) -> dict[str, float | None]:
    sources = [text for path, text in program.files.items() if path.endswith(".py")] or list(
        program.files.values()
    )
    nodes: float | None = 0.0
    for text in sources:
        try:
            tree = ast.parse(text)
        except (SyntaxError, ValueError):
            nodes = None
            break
        assert nodes is not None
        nodes += sum(1 for _ in ast.walk(tree))
    return {"code_length": float(sum(len(t) for t in sources)), "complexity": nodes}


def archive_describer(archive: Archive, names: Sequence[str]) -> Describe:
    """A function giving the descriptors ``names`` of an observed candidate, read from ``archive``."""
    wanted = tuple(names)
    builtin = any(n in BUILTIN_FEATURES for n in wanted)

    def describe(row: CandidateRow) -> tuple[float | None, ...]:
        cand = archive.get_candidate(row.id)
        own = program_features(cand.program) if builtin else {}
        values: list[float | None] = []
        for name in wanted:
            v = own.get(name) if name in BUILTIN_FEATURES else cand.metrics.get(name)
            values.append(float(v) if v is not None and math.isfinite(v) else None)
        return tuple(values)

    return describe
