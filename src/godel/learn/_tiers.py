"""Quality tiers: a run's evaluated candidates graded by where their score falls among the run's scores."""

from __future__ import annotations

import bisect
import enum
from collections.abc import Sequence
from dataclasses import dataclass

from godel.candidate import Candidate, Status

__all__ = ["TIERS", "Graded", "Tier", "grade", "tier_counts"]


class Tier(enum.StrEnum):
    EXCELLENT = "EXCELLENT"
    GOOD = "GOOD"
    FAIR = "FAIR"
    POOR = "POOR"


TIERS: tuple[Tier, ...] = (Tier.EXCELLENT, Tier.GOOD, Tier.FAIR, Tier.POOR)

# Lower score quantile of each tier. Quantiles (not fixed scores) so that tiers mean the same on any evaluator's
# scale; the top tier is narrow because a warm start admits it first.
_FLOORS: tuple[tuple[Tier, float], ...] = ((Tier.EXCELLENT, 0.9), (Tier.GOOD, 0.7), (Tier.FAIR, 0.3))


@dataclass(frozen=True)
class Graded:
    candidate: Candidate
    tier: Tier
    quantile: float  # share of the run's graded scores strictly below this one


def _quantile(sorted_scores: Sequence[float], q: float) -> float:
    """Linear-interpolation quantile of an ascending, non-empty sequence (numpy's default method)."""
    pos = q * (len(sorted_scores) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(sorted_scores) - 1)
    return sorted_scores[lo] + (sorted_scores[hi] - sorted_scores[lo]) * (pos - lo)


def grade(candidates: Sequence[Candidate]) -> list[Graded]:
    """Grade the evaluated, unflagged candidates, best first. Failed, rejected, pending and flagged candidates get
    no tier: a warm start must never inherit what the guard doubted or what did not run."""
    usable = [
        (float(c.score), c)
        for c in candidates
        if c.status == Status.OK and c.score is not None and not c.flags
    ]
    if not usable:
        return []
    scores = sorted(score for score, _ in usable)
    floors = [(tier, _quantile(scores, q)) for tier, q in _FLOORS]
    graded: list[Graded] = []
    for score, cand in usable:
        tier = next((t for t, floor in floors if score >= floor), Tier.POOR)
        # bisect on the sorted scores: a per-candidate scan would make grading a large run quadratic
        graded.append(Graded(cand, tier, bisect.bisect_left(scores, score) / len(scores)))
    graded.sort(key=lambda g: (-(g.candidate.score or 0.0), g.candidate.iteration))
    return graded


def tier_counts(graded: Sequence[Graded]) -> dict[str, int]:
    counts = {t.value: 0 for t in TIERS}
    for g in graded:
        counts[g.tier.value] += 1
    return counts
