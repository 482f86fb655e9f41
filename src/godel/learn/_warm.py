"""Warm starts: which candidates of an earlier run a new run takes as its first population."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from godel.archive import Archive, RunInfo
from godel.candidate import Program, Status
from godel.errors import UsageError
from godel.learn._tiers import Tier, grade, tier_counts

__all__ = ["WarmStart", "plan_warm_start"]


@dataclass(frozen=True)
class WarmStart:
    """What a new run is seeded with. The candidates are re-evaluated in the new run, each as one of its first
    proposals (so they count against its budget, like anything else it evaluates); their old scores are kept only
    as a record."""

    run_id: int
    run_name: str
    candidate_ids: tuple[int, ...]
    tiers: Sequence[str]
    counts: dict[str, int] = field(default_factory=dict)  # the source run's candidates per tier

    def to_dict(self) -> dict[str, Any]:
        return {
            "run": self.run_id,
            "run_name": self.run_name,
            "candidates": list(self.candidate_ids),
            "tiers": list(self.tiers),
            "counts": dict(self.counts),
        }


def plan_warm_start(
    archive: Archive,
    run: RunInfo,
    *,
    limit: int,
    tiers: Sequence[str] = (Tier.EXCELLENT.value, Tier.GOOD.value),
    same_code: Callable[[Program], str] | None = None,
) -> WarmStart:
    """Pick up to ``limit`` candidates of ``run`` from the given tiers, best first, one per distinct program (by
    ``same_code``, default the text digest)."""
    wanted = {Tier(t.upper()) for t in tiers}
    graded = grade(archive.candidates(run.id, status=Status.OK))
    if not graded:
        raise UsageError(
            f"--warm-start {run.name}: run {run.name!r} has no evaluated, unflagged candidate to start from",
            hint="pick a run that evaluated something, or start without --warm-start",
        )
    digest = same_code or (lambda p: p.digest())
    seen: set[str] = set()
    chosen: list[int] = []
    for g in graded:
        if g.tier not in wanted or g.candidate.id is None or g.candidate.iteration == 0:
            continue  # the new run evaluates its own seed anyway
        d = digest(g.candidate.program)
        if d in seen:
            continue
        seen.add(d)
        chosen.append(g.candidate.id)
        if len(chosen) >= limit:
            break
    return WarmStart(run.id, run.name, tuple(chosen), sorted(t.value for t in wanted), tier_counts(graded))
