"""Hypothesis properties over arbitrary archives: determinism, no starvation, ties, failed archives."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from godel.archive._base import CandidateRow
from godel.candidate import Status
from tests.select.support import NAMES, counts, feed, row, selector

finite = st.floats(allow_nan=False, allow_infinity=False)
unit = st.floats(min_value=0.0, max_value=1.0)


@st.composite
def archives(
    draw: st.DrawFn, scores: st.SearchStrategy[float | None] = finite, max_size: int = 40
) -> list[CandidateRow]:
    n = draw(st.integers(1, max_size))
    rows = []
    for i in range(n):
        status = draw(st.sampled_from([Status.OK, Status.OK, Status.OK, Status.FAILED, Status.REJECTED]))
        score = draw(scores) if status == Status.OK else None
        parent = None if i == 0 else draw(st.integers(0, i - 1))
        rows.append(row(i, score, parent, status=status, flagged=draw(st.booleans()) and draw(st.booleans())))
    return rows


def _eligible(rows: list[CandidateRow]) -> set[int]:
    return {r.id for r in rows if r.status == Status.OK and r.score is not None and not r.flagged}


options = st.sampled_from(
    [
        {},
        {"normalize": "mad"},
        {"normalize": "none"},
        {"lambda": 50.0, "alpha": 0.9},
        {"temperature": 0.05},
        {"tournament_size": 1},
        {"tournament_size": 7},
    ]
)


@settings(max_examples=60, deadline=None)
@given(archives(), st.sampled_from(NAMES), options, st.integers(0, 2**32 - 1))
def test_same_observations_and_rng_state_give_the_same_picks(
    rows: list[CandidateRow], name: str, opts: dict[str, object], seed: int
) -> None:
    a, b = selector(name, **opts), selector(name, **opts)
    ra, rb = random.Random(seed), random.Random(seed)
    for r in rows:  # interleaved, the way the engine uses a selector
        a.observe(r)
        b.observe(r)
        assert a.pick(ra) == b.pick(rb)
    assert [a.pick(ra) for _ in range(20)] == [b.pick(rb) for _ in range(20)]
    assert ra.getstate() == rb.getstate()
    assert a.top(5) == b.top(5)


@settings(max_examples=80, deadline=None)
@given(archives(), st.sampled_from(["dgm", "fitness"]), options)
def test_weighted_selectors_never_starve_an_eligible_candidate(
    rows: list[CandidateRow], name: str, opts: dict[str, object]
) -> None:
    sel = feed(selector(name, **opts), rows)
    probs = sel.probabilities()
    eligible = _eligible(rows)
    expected = eligible or {r.id for r in rows}
    assert set(probs) == expected
    assert all(p > 0 for p in probs.values())
    assert sum(probs.values()) == pytest.approx(1.0)


@settings(max_examples=60, deadline=None)
@given(archives(), st.sampled_from(NAMES), options, st.integers(0, 2**32 - 1))
def test_picks_come_from_the_support_of_the_distribution(
    rows: list[CandidateRow], name: str, opts: dict[str, object], seed: int
) -> None:
    sel = feed(selector(name, **opts), rows)
    probs = sel.probabilities()
    assert sum(probs.values()) == pytest.approx(1.0)
    rng = random.Random(seed)
    for _ in range(30):
        assert probs.get(sel.pick(rng), 0.0) > 0


@settings(max_examples=25, deadline=None)
@given(
    st.lists(st.floats(min_value=0.2, max_value=1.0), min_size=1, max_size=6),
    st.sampled_from(["dgm", "fitness"]),
)
def test_every_eligible_candidate_of_a_small_archive_gets_picked(scores: list[float], name: str) -> None:
    rows = [row(0, None, None, status=Status.FAILED)]  # a failed seed; everyone else is its child
    rows += [row(i, s, 0) for i, s in enumerate(scores, start=1)]
    sel = feed(selector(name), rows)
    assert set(counts(sel, 20_000)) == set(range(1, len(scores) + 1))


@settings(max_examples=60, deadline=None)
@given(finite, st.integers(1, 12), st.sampled_from(["dgm", "fitness", "tournament", "greedy"]), options)
def test_equal_scores_and_equal_children_mean_equal_chances(
    score: float, n: int, name: str, opts: dict[str, object]
) -> None:
    rows = [row(0, None, None, status=Status.FAILED)] + [row(i, score, 0) for i in range(1, n + 1)]
    probs = feed(selector(name, **opts), rows).probabilities()
    assert probs == pytest.approx({i: 1 / n for i in range(1, n + 1)})


@settings(max_examples=60, deadline=None)
@given(archives(st.none()), st.sampled_from(NAMES))
def test_an_archive_without_eligible_candidates_still_yields_parents(
    rows: list[CandidateRow], name: str
) -> None:
    sel = feed(selector(name), rows)
    assert sel.eligible_count == 0
    ids = {r.id for r in rows}
    pick = sel.pick(random.Random(0))
    assert pick in ids
    if name == "best-of-n":
        assert pick == 0
    else:
        assert sel.probabilities() == pytest.approx({i: 1 / len(ids) for i in ids})


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
