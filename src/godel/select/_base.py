"""The ``Selector`` interface: parent selection over the archive.

Selectors are incremental: the engine feeds every finished candidate to :meth:`Selector.observe` in iteration
order, then asks :meth:`Selector.pick` for a parent. Given the same observations and the same ``rng`` state, a
selector must return the same parent (this is what makes resumed runs equal uninterrupted ones).
"""

from __future__ import annotations

import random
from typing import Protocol, runtime_checkable

from godel.archive import CandidateRow

__all__ = ["Selector"]


@runtime_checkable
class Selector(Protocol):
    name: str

    def observe(self, row: CandidateRow) -> None:
        """Record a finished candidate (any status). Its parent's child count goes up by one."""

    def pick(self, rng: random.Random) -> int:
        """Id of the parent for the next proposal. Raises SelectionError when nothing was observed."""

    def top(self, k: int) -> list[int]:
        """Ids of up to ``k`` best-scoring eligible candidates, best first (inspirations for prompts)."""
