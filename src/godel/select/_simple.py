"""Selectors without weights: tournament, greedy, and best-of-N from the seed (the honest baseline)."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

from godel.errors import ConfigError, SelectionError
from godel.select._pool import Pool

__all__ = ["BestOfNSelector", "GreedySelector", "TournamentSelector", "tournament_probabilities"]


def tournament_probabilities(scores: Sequence[float], size: int) -> list[float]:
    """Exact chance of each entry to win a tournament of ``size`` entrants drawn without replacement, ties split
    evenly: the winner lies in the group of equal scores G (``a`` entries strictly better) with probability
    ``[C(n-a, k) - C(n-a-g, k)] / C(n, k)``."""
    n = len(scores)
    k = min(size, n)
    order = sorted(range(n), key=lambda i: -scores[i])
    probs = [0.0] * n
    total = math.comb(n, k)
    a = 0
    while a < n:
        g = 1
        while a + g < n and scores[order[a + g]] == scores[order[a]]:
            g += 1
        p = (math.comb(n - a, k) - math.comb(n - a - g, k)) / total / g
        for i in order[a : a + g]:
            probs[i] = p
        a += g
    return probs


class TournamentSelector(Pool):
    """``size`` eligible candidates drawn uniformly without replacement; the best score wins, a tie among the best
    is broken uniformly with the rng. With ``size >= n`` every eligible candidate takes part (greedy). With
    ``size = 1`` it is uniform selection. Child counts play no role. ``pick`` is O(size)."""

    name = "tournament"

    def __init__(self, *, size: int = 3) -> None:
        if size < 1:
            raise ConfigError(
                f"selector tournament_size={size!r} must be >= 1", hint="the usual choice is 2 to 7"
            )
        super().__init__()
        self.size = size

    def _pick_eligible(self, rng: random.Random) -> int:
        n = len(self._e_obs)
        entrants = range(n) if self.size >= n else rng.sample(range(n), self.size)
        scores = self._e_score
        best = -math.inf
        winners: list[int] = []
        for e in entrants:
            s = scores[e]
            if s > best:
                best = s
                winners = [e]
            elif s == best:
                winners.append(e)
        return winners[0] if len(winners) == 1 else winners[rng.randrange(len(winners))]

    def _eligible_probabilities(self) -> list[float]:
        return tournament_probabilities(self._e_score, self.size)


class GreedySelector(Pool):
    """Always a best-scoring eligible candidate; ties among the equal best are broken uniformly with the rng."""

    name = "greedy"

    def __init__(self) -> None:
        super().__init__()
        self._best = -math.inf
        self._best_set: list[int] = []  # eligible indices with score == self._best, in observation order

    def _on_eligible(self, e: int, score: float, children: int) -> None:
        if score > self._best:
            self._best = score
            self._best_set = [e]
        elif score == self._best:
            self._best_set.append(e)

    def _pick_eligible(self, rng: random.Random) -> int:
        best = self._best_set
        return best[0] if len(best) == 1 else best[rng.randrange(len(best))]

    def _eligible_probabilities(self) -> list[float]:
        probs = [0.0] * len(self._e_obs)
        for e in self._best_set:
            probs[e] = 1.0 / len(self._best_set)
        return probs


class BestOfNSelector(Pool):
    """Every proposal starts from the seed: N independent samples, the baseline any search has to beat.

    The seed is the iteration-0 candidate (or, if none was observed, the first one observed), whatever its status:
    a failed seed is still what the baseline samples from. ``top`` returns no other candidates, so no information
    flows between samples through prompt inspirations (it returns at most the seed itself, which the engine drops
    as it is the parent). The rng is not used.
    """

    name = "best-of-n"

    def pick(self, rng: random.Random) -> int:
        if self._seed is None:
            raise SelectionError(
                "no candidate has been observed, so there is no seed to sample from",
                hint="observe the seed candidate before asking for a parent",
            )
        return self._seed

    def top(self, k: int) -> list[int]:
        if k <= 0 or self._seed is None:
            return []
        o = self._index[self._seed]
        return [self._seed] if self._elig_of[o] >= 0 else []

    def probabilities(self) -> dict[int, float]:
        return {} if self._seed is None else {self._seed: 1.0}
