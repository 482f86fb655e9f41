from __future__ import annotations

from godel.candidate import Candidate, Program, Status
from godel.learn import TIERS, grade, tier_counts


def _cand(
    i: int, score: float | None, status: Status = Status.OK, flags: list[str] | None = None
) -> Candidate:
    return Candidate(
        run_id=1,
        iteration=i,
        program=Program.single("p.py", f"x = {i}\n"),
        status=status,
        score=score,
        flags=flags or [],
        id=i + 1,
    )


def test_tiers_follow_score_quantiles_best_first() -> None:
    graded = grade([_cand(i, i / 10) for i in range(11)])
    assert [g.candidate.iteration for g in graded] == list(range(10, -1, -1))
    # q90 = 0.9, q70 = 0.7, q30 = 0.3 (linear interpolation); a score on a floor belongs to the tier above it
    assert [g.tier.value for g in graded[:3]] == ["EXCELLENT", "EXCELLENT", "GOOD"]
    assert graded[-1].tier.value == "POOR" and graded[-1].quantile == 0.0
    counts = tier_counts(graded)
    assert list(counts) == [t.value for t in TIERS] and sum(counts.values()) == 11
    assert counts == {"EXCELLENT": 2, "GOOD": 2, "FAIR": 4, "POOR": 3}


def test_failed_flagged_and_unscored_candidates_get_no_tier() -> None:
    cands = [
        _cand(0, 0.5),
        _cand(1, 0.9, flags=["rerun: score did not reproduce"]),
        _cand(2, None, status=Status.FAILED),
        _cand(3, 0.99, status=Status.REJECTED),
        _cand(4, 0.7),
    ]
    assert [g.candidate.iteration for g in grade(cands)] == [4, 0]
    assert grade([]) == []


def test_equal_scores_share_the_top_tier() -> None:
    assert {g.tier.value for g in grade([_cand(i, 0.3) for i in range(5)])} == {"EXCELLENT"}
