"""MAP-Elites: a grid of behaviour cells, each keeping its best candidate; parents are elites of uniform cells.

A candidate's cell is its descriptors (see :mod:`godel.select._features`), each binned by its relative change
from the value of the first eligible candidate (normally the seed): bin ``floor((x - x0) / |x0| / width)`` (``/ 1`` when ``x0 = 0``),
clamped to ``[-bins, bins]`` so outliers share the outermost bin, and a separate bin for a missing value. Without a
``describe`` function (no archive to read descriptors from) the cell is the candidate's generation, capped at
``bins``: elites by lineage depth.

A cell keeps every eligible candidate tied for its best score (ties are broken when picking, uniformly), and a new
candidate replaces the elites only when strictly better. ``pick`` draws an occupied cell uniformly, then one of its
elites uniformly: O(1). Picks depend only on the order of the scores.
"""

from __future__ import annotations

import math
import random

from godel.archive import CandidateRow
from godel.errors import ConfigError
from godel.select._features import Describe
from godel.select._pool import Pool

__all__ = ["MapElitesSelector"]

Cell = tuple[int | None, ...]


class MapElitesSelector(Pool):
    name = "map-elites"

    def __init__(self, *, describe: Describe | None = None, bin_width: float = 0.1, bins: int = 5) -> None:
        if not bin_width > 0 or bins < 1:
            raise ConfigError(
                f"map-elites feature_bin_width={bin_width!r}, feature_bins={bins!r} out of range",
                hint="feature_bin_width > 0 and feature_bins >= 1",
            )
        super().__init__()
        self.describe = describe
        self.bin_width = bin_width
        self.bins = bins
        self._origin: list[float | None] = []  # the first value seen of each descriptor
        self._cells: dict[Cell, list[int]] = {}  # cell -> eligible indices tied for its best score
        self._order: list[Cell] = []  # occupied cells, in the order they were first filled
        self._row: CandidateRow | None = None  # the row being observed (read by _on_eligible)

    def observe(self, row: CandidateRow) -> None:
        self._row = row
        try:
            super().observe(row)
        finally:
            self._row = None

    def _cell_of(self, row: CandidateRow) -> Cell:
        """The cell ``row`` falls in; the first value of each descriptor sets its origin."""
        if self.describe is None:
            return (min(row.generation, self.bins),)
        values = self.describe(row)
        while len(self._origin) < len(values):
            self._origin.append(None)
        cell: list[int | None] = []
        for d, x in enumerate(values):
            if x is None:
                cell.append(None)
                continue
            x0 = self._origin[d]
            if x0 is None:
                self._origin[d] = x0 = x
            b = math.floor((x - x0) / (abs(x0) or 1.0) / self.bin_width)
            cell.append(max(-self.bins, min(self.bins, b)))
        return tuple(cell)

    def _on_eligible(self, e: int, score: float, children: int) -> None:
        assert self._row is not None
        cell = self._cell_of(self._row)
        elites = self._cells.get(cell)
        if elites is None:
            self._cells[cell] = [e]
            self._order.append(cell)
        elif score > self._e_score[elites[0]]:
            self._cells[cell] = [e]
        elif score == self._e_score[elites[0]]:
            elites.append(e)

    def _pick_eligible(self, rng: random.Random) -> int:
        elites = self._cells[self._order[rng.randrange(len(self._order))]]
        return elites[0] if len(elites) == 1 else elites[rng.randrange(len(elites))]

    def _eligible_probabilities(self) -> list[float]:
        probs = [0.0] * len(self._e_obs)
        for elites in self._cells.values():
            for e in elites:
                probs[e] = 1.0 / len(self._order) / len(elites)
        return probs

    def elites(self) -> dict[Cell, list[int]]:
        """Occupied cells and the ids of their elites."""
        return {cell: [self._ids[self._e_obs[e]] for e in es] for cell, es in self._cells.items()}
