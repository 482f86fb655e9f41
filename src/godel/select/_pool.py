"""Bookkeeping every selector shares: observed candidates, child counts, eligibility, the leaderboard.

Rules common to all strategies:

* A candidate is an *eligible* parent when its status is ``OK``, it has a score and it is not flagged.
* Every observed row, whatever its status, adds one child to its parent (DGM's ``h`` counts failed children too:
  a parent whose children keep failing should be tried less, not more).
* When nothing observed is eligible (the seed and everything after it failed), parents are drawn uniformly from
  *all* observed candidates, so a run whose candidates all failed can still propose repairs instead of stopping.
  As soon as one candidate is eligible, only eligible candidates are picked.
* Nothing observed: :class:`~godel.errors.SelectionError`.
* An ``OK`` row whose score is NaN or infinite is rejected by ``observe`` with a SelectionError (the evaluator
  fails such candidates, so one reaching selection is a bug upstream that must not be hidden). A candidate id
  observed twice is rejected too: the engine feeds each finished candidate exactly once.
* Scores are "higher is better"; the engine negates them for minimisation before feeding them.
* Only the ``random.Random`` passed to ``pick`` is used, so equal observations and equal rng states give equal picks.

Storage is a handful of typed ``array.array`` columns indexed by observation order, plus one ``id -> index`` dict:
about 100 bytes per candidate, so a million candidates cost ~100 MB.
"""

from __future__ import annotations

import bisect
import heapq
import math
import random
from array import array

from godel.archive import CandidateRow
from godel.candidate import Status
from godel.errors import SelectionError

__all__ = ["Pool"]

_BOARD = 64  # leaderboard size: top(k) for k <= 64 is a slice, larger k scans everything


class Pool:
    """Base class of the selectors; subclasses implement ``_pick_eligible`` and may hook the ``_on_*`` events."""

    name: str = "pool"

    def __init__(self) -> None:
        self._index: dict[int, int] = {}  # candidate id -> observation index
        self._ids: array[int] = array("q")  # observation index -> candidate id
        self._children: array[int] = array("q")  # observation index -> number of observed children
        self._elig_of: array[int] = array("q")  # observation index -> eligible index, or -1
        self._e_obs: array[int] = array("q")  # eligible index -> observation index
        self._e_score: array[float] = array("d")  # eligible index -> score
        self._orphans: dict[int, int] = {}  # children of parents not observed (yet)
        self._seed: int | None = None  # id of the iteration-0 candidate, else of the first observed one
        self._seed_is_iteration0 = False
        self._board: list[tuple[float, int]] = []  # (-score, eligible index), sorted: the best first

    # -- the Selector protocol -----------------------------------------------------------------------------------

    def observe(self, row: CandidateRow) -> None:
        eligible = row.status == Status.OK and row.score is not None and not row.flagged
        if row.status == Status.OK and row.score is not None and not math.isfinite(row.score):
            raise SelectionError(
                f"candidate {row.id} has status ok but a non-finite score ({row.score!r})",
                hint="the evaluator must mark candidates with NaN or infinite scores as failed",
            )
        if row.id in self._index:
            raise SelectionError(
                f"candidate {row.id} was observed twice",
                hint="feed each finished candidate to the selector once, in iteration order",
            )
        o = len(self._ids)
        self._index[row.id] = o
        self._ids.append(row.id)
        self._children.append(self._orphans.pop(row.id, 0))
        self._elig_of.append(-1)
        if row.iteration == 0 and not self._seed_is_iteration0:
            self._seed = row.id
            self._seed_is_iteration0 = True
        elif self._seed is None:
            self._seed = row.id
        if row.parent_id is not None:
            p = self._index.get(row.parent_id)
            if p is None:
                self._orphans[row.parent_id] = self._orphans.get(row.parent_id, 0) + 1
            else:
                c = self._children[p] + 1
                self._children[p] = c
                e = self._elig_of[p]
                if e >= 0:
                    self._on_children(e, c)
        if eligible:
            assert row.score is not None
            score = float(row.score)
            e = len(self._e_obs)
            self._e_obs.append(o)
            self._e_score.append(score)
            self._elig_of[o] = e
            self._board_add(score, e)
            self._on_eligible(e, score, self._children[o])

    def pick(self, rng: random.Random) -> int:
        if self._e_obs:
            return self._ids[self._e_obs[self._pick_eligible(rng)]]
        if self._ids:
            return self._ids[rng.randrange(len(self._ids))]
        raise SelectionError(
            "no candidate has been observed, so there is no parent to pick",
            hint="observe the seed candidate before asking for a parent",
        )

    def top(self, k: int) -> list[int]:
        if k <= 0:
            return []
        if k <= len(self._board) or len(self._board) == len(self._e_obs):
            best = self._board[:k]
        else:
            best = heapq.nsmallest(k, ((-s, e) for e, s in enumerate(self._e_score)))
        return [self._ids[self._e_obs[e]] for _, e in best]

    # -- inspection ------------------------------------------------------------------------------------------------

    def __len__(self) -> int:
        """Number of observed candidates."""
        return len(self._ids)

    @property
    def eligible_count(self) -> int:
        return len(self._e_obs)

    @property
    def seed(self) -> int | None:
        return self._seed

    def children(self, cid: int) -> int:
        """Observed children of ``cid`` (0 for an unknown id)."""
        o = self._index.get(cid)
        return self._orphans.get(cid, 0) if o is None else self._children[o]

    def probabilities(self) -> dict[int, float]:
        """The exact distribution the next ``pick`` draws from, as ``{id: probability}`` over candidates with a
        non-zero probability. O(n): meant for tests, dashboards and small archives."""
        if not self._e_obs:
            n = len(self._ids)
            return {cid: 1.0 / n for cid in self._ids}
        probs = self._eligible_probabilities()
        return {self._ids[self._e_obs[e]]: p for e, p in enumerate(probs) if p > 0.0}

    # -- hooks -----------------------------------------------------------------------------------------------------

    def _on_eligible(self, e: int, score: float, children: int) -> None:
        """A new eligible candidate got eligible index ``e`` (indices are dense and only grow)."""

    def _on_children(self, e: int, children: int) -> None:
        """Eligible candidate ``e`` now has ``children`` children."""

    def _pick_eligible(self, rng: random.Random) -> int:
        raise NotImplementedError

    def _eligible_probabilities(self) -> list[float]:
        raise NotImplementedError

    # -- helpers ---------------------------------------------------------------------------------------------------

    def _board_add(self, score: float, e: int) -> None:
        key = (-score, e)
        board = self._board
        if len(board) < _BOARD:
            bisect.insort(board, key)
        elif key < board[-1]:
            bisect.insort(board, key)
            board.pop()
