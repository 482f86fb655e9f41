"""The island model: sub-populations that search apart and share their best along a ring.

Which island a candidate lives on follows from its lineage, so observing the archive again rebuilds the same islands
(``pick`` cannot record which island asked for a parent; the engine feeds back only the child's row):

* the seed lives on every island (each island starts from it);
* a child lives on its parent's island; when the parent lives on several (the seed, a migrant), on the one of
  them its id selects (``id % len``), which spreads the seed's children evenly over the islands;
* a child whose parent was not observed, or another candidate without a parent, lives on island ``id % islands``.

Every ``migration_interval`` observed candidates, each island sends its best ``ceil(rate * size)`` eligible
members to the next island of the ring; a migrant joins only when it beats the destination's best (an equal one
adds nothing but a second chance for the same program), and an island without eligible members takes none
(it fills from the seed's children). Migration reads every island before changing any.

``pick`` draws an island with probability proportional to its eligible members (so equal candidates keep equal
chances), then holds a tournament of ``tournament_size`` members of that island. Picks depend only on the order of
the scores.
"""

from __future__ import annotations

import math
import random

from godel.archive import CandidateRow
from godel.errors import ConfigError
from godel.select._pool import Pool
from godel.select._simple import tournament_probabilities

__all__ = ["IslandSelector"]


class IslandSelector(Pool):
    name = "islands"

    def __init__(
        self,
        *,
        islands: int = 4,
        migration_interval: int = 10,
        migration_rate: float = 0.1,
        tournament_size: int = 3,
    ) -> None:
        if islands < 1 or migration_interval < 1 or not 0 < migration_rate <= 1 or tournament_size < 1:
            raise ConfigError(
                f"islands={islands}, migration_interval={migration_interval}, migration_rate={migration_rate}, "
                f"tournament_size={tournament_size} out of range",
                hint="islands, migration_interval and tournament_size >= 1; 0 < migration_rate <= 1",
            )
        super().__init__()
        self.islands = islands
        self.migration_interval = migration_interval
        self.migration_rate = migration_rate
        self.size = tournament_size
        self._lives_on: dict[int, tuple[int, ...]] = {}  # candidate id -> its islands, in the order it joined
        self._members: list[list[int]] = [[] for _ in range(islands)]  # island -> eligible indices
        self._pending: tuple[int, ...] = ()  # islands of the row being observed (read by _on_eligible)

    def observe(self, row: CandidateRow) -> None:
        home = self._home(row)
        self._pending = home
        try:
            super().observe(row)
        finally:
            self._pending = ()
        self._lives_on[row.id] = home
        if len(self) % self.migration_interval == 0:
            self._migrate()

    def _home(self, row: CandidateRow) -> tuple[int, ...]:
        n = self.islands
        if row.parent_id is None and (row.iteration == 0 or not self._lives_on):
            return tuple(range(n))
        parent = self._lives_on.get(row.parent_id) if row.parent_id is not None else None
        if parent is None:
            return (row.id % n,)
        return (parent[0],) if len(parent) == 1 else (parent[row.id % len(parent)],)

    def _on_eligible(self, e: int, score: float, children: int) -> None:
        for island in self._pending:
            self._members[island].append(e)

    def _best_of(self, island: int, k: int) -> list[int]:
        members = self._members[island]
        return sorted(members, key=lambda e: (-self._e_score[e], e))[:k]

    def _migrate(self) -> None:
        n = self.islands
        if n == 1:
            return
        outgoing = [
            self._best_of(i, math.ceil(self.migration_rate * len(self._members[i]))) for i in range(n)
        ]
        for i, migrants in enumerate(outgoing):
            dest = (i + 1) % n
            here = self._members[dest]
            if not here:
                continue  # an island without eligible members fills from the seed's children instead
            best = max(self._e_score[e] for e in here)
            for e in migrants:
                if self._e_score[e] > best and e not in here:
                    here.append(e)
                    cid = self._ids[self._e_obs[e]]
                    self._lives_on[cid] = (*self._lives_on[cid], dest)

    def _pick_eligible(self, rng: random.Random) -> int:
        total = sum(len(m) for m in self._members)
        r = rng.randrange(total)
        for members in self._members:
            if r < len(members):
                break
            r -= len(members)
        m = len(members)
        entrants = range(m) if self.size >= m else rng.sample(range(m), self.size)
        best = -math.inf
        winners: list[int] = []
        for j in entrants:
            s = self._e_score[members[j]]
            if s > best:
                best, winners = s, [j]
            elif s == best:
                winners.append(j)
        j = winners[0] if len(winners) == 1 else winners[rng.randrange(len(winners))]
        return members[j]

    def _eligible_probabilities(self) -> list[float]:
        probs = [0.0] * len(self._e_obs)
        total = sum(len(m) for m in self._members)
        for members in self._members:
            if not members:
                continue
            share = len(members) / total
            for e, p in zip(
                members, tournament_probabilities([self._e_score[e] for e in members], self.size), strict=True
            ):
                probs[e] += share * p
        return probs

    def island_sizes(self) -> list[int]:
        """Eligible members of each island (a migrant counts on every island it joined)."""
        return [len(m) for m in self._members]

    def islands_of(self, cid: int) -> tuple[int, ...]:
        """The islands candidate ``cid`` lives on (empty for an unknown id)."""
        return self._lives_on.get(cid, ())
