"""Hypothesis properties specific to one strategy. The properties every selector shares (determinism, resumption,
eligibility, no starvation, ties, failed archives) are in the conformance suite, godel.select.testing."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from godel.archive import CandidateRow
from godel.candidate import Status
from godel.select.testing import archives
from tests.select.support import feed, selector

unit = st.floats(min_value=0.0, max_value=1.0)


def _eligible(rows: list[CandidateRow]) -> set[int]:
    return {r.id for r in rows if r.status == Status.OK and r.score is not None and not r.flagged}


@settings(max_examples=40, deadline=None)
@given(archives(unit))
def test_dgm_prefers_fewer_children_at_equal_score(rows: list[CandidateRow]) -> None:
    sel = feed(selector("dgm"), rows)
    probs = sel.probabilities()
    eligible = sorted(_eligible(rows))
    score = {r.id: r.score for r in rows}
    for a in eligible:
        for b in eligible:
            if score[a] == score[b] and sel.children(a) < sel.children(b):
                assert probs[a] > probs[b]
