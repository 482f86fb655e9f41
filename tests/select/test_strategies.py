"""Fitness-proportional, tournament, greedy and best-of-N."""

from __future__ import annotations

import math
import random
import warnings

import pytest

from godel.candidate import Status
from godel.select import (
    WEIGHT_FLOOR,
    BestOfNSelector,
    FitnessSelector,
    GreedySelector,
    TournamentSelector,
)
from godel.select._normalise import sigmoid
from tests.select.support import assert_matches, counts, feed, row

# -- fitness-proportional -------------------------------------------------------------------------------------------


def test_fitness_is_a_softmax_over_raw_unit_scores() -> None:
    scores = {1: 0.1, 2: 0.9, 3: 0.5, 4: 0.5}
    sel = feed(FitnessSelector(temperature=0.2), [row(i, s, 1 if i > 1 else None) for i, s in scores.items()])
    z = sum(math.exp(s / 0.2) for s in scores.values())
    for i, p in sel.probabilities().items():
        assert p == pytest.approx(math.exp(scores[i] / 0.2) / z, rel=1e-12)
    assert_matches(sel)


def test_fitness_ignores_child_counts() -> None:
    rows = [row(1, 0.5, iteration=0), row(2, 0.5, 1)]
    rows += [row(i, None, 1, status=Status.FAILED) for i in range(3, 10)]
    assert feed(FitnessSelector(), rows).probabilities() == {1: 0.5, 2: 0.5}


def test_fitness_on_unbounded_scores_uses_the_normalised_quantile() -> None:
    scores = [-50.0, 3.0, 10.0, 11.0, 12.0, 400.0]
    sel = feed(FitnessSelector(), [row(i, s, None) for i, s in enumerate(scores)])
    norm = sel.normalisation
    assert norm["kind"] == "mad"
    xs = [sigmoid(1.702 * (s - float(norm["median"])) / float(norm["scale"])) for s in scores]
    z = sum(math.exp(x) for x in xs)
    probs = sel.probabilities()
    for i in range(len(scores)):
        assert probs[i] == pytest.approx(math.exp(xs[i]) / z, rel=1e-9)


def test_fitness_low_temperature_and_raw_unbounded_scores_do_not_overflow_or_starve() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sel = FitnessSelector(temperature=1e-3, normalize="none")
        feed(sel, [row(0, 0.0, None)])
        for i, s in enumerate([1.0, -5.0, 1e5, 2e5, -1e300, 1e300], start=1):
            sel.observe(row(i, s, 0))
        probs = sel.probabilities()
    assert len(probs) == 7 and all(p > 0 for p in probs.values())
    assert max(probs, key=probs.__getitem__) == 6
    # Everything else sits on the weight floor relative to the best.
    assert probs[0] / probs[6] == pytest.approx(WEIGHT_FLOOR)
    assert counts(sel, 1000) == {6: 1000}


def test_fitness_rebases_when_a_new_best_would_overflow() -> None:
    sel = FitnessSelector(temperature=0.01, normalize="none")
    feed(sel, [row(0, 0.5, None), row(1, 0.6, 0)])
    sel.observe(row(2, 50.0, 0))  # exp((50 - 1) / 0.01) would overflow without a rebase
    probs = sel.probabilities()
    assert probs[2] == pytest.approx(1.0)
    assert probs[0] > 0 and probs[1] > 0


# -- tournament -----------------------------------------------------------------------------------------------------


def _ten(sel: TournamentSelector | GreedySelector) -> TournamentSelector | GreedySelector:
    return feed(sel, [row(i, i / 10, None if i == 0 else 0) for i in range(10)])


def test_tournament_probabilities_follow_the_order_statistics() -> None:
    sel = _ten(TournamentSelector(size=3))
    probs = sel.probabilities()
    # Candidate of rank r (0 = worst) wins iff it is drawn with two worse ones: C(r, 2) / C(10, 3).
    for i in range(10):
        assert probs.get(i, 0.0) == pytest.approx(math.comb(i, 2) / math.comb(10, 3))
    assert 0 not in probs and 1 not in probs  # the two worst can never win a 3-way tournament
    assert_matches(sel)


def test_tournament_of_one_is_uniform_and_of_everyone_is_greedy() -> None:
    assert _ten(TournamentSelector(size=1)).probabilities() == pytest.approx({i: 0.1 for i in range(10)})
    big = _ten(TournamentSelector(size=50))
    assert big.probabilities() == {9: 1.0}
    assert counts(big, 300) == {9: 300}


def test_tournament_ties_are_broken_by_the_rng() -> None:
    sel = feed(TournamentSelector(size=4), [row(i, 0.7 if i < 4 else 0.1, None) for i in range(6)])
    probs = sel.probabilities()
    assert probs == pytest.approx({i: 0.25 for i in range(4)})
    assert set(counts(sel, 2000)) == {0, 1, 2, 3}
    assert_matches(sel)


def test_tournament_ignores_child_counts() -> None:
    rows = [row(0, 0.5, None), row(1, 0.5, 0)] + [row(i, None, 0, status=Status.FAILED) for i in range(2, 9)]
    assert feed(TournamentSelector(size=2), rows).probabilities() == {0: 0.5, 1: 0.5}


# -- greedy ---------------------------------------------------------------------------------------------------------


def test_greedy_takes_the_best_and_follows_improvements() -> None:
    sel = _ten(GreedySelector())
    assert counts(sel, 100) == {9: 100}
    sel.observe(row(10, 3.5, 9))
    assert counts(sel, 100) == {10: 100}
    sel.observe(row(11, 99.0, 9, flagged=True))  # flagged: not a parent
    sel.observe(row(12, 99.0, 9, status=Status.REJECTED))
    assert counts(sel, 100) == {10: 100}


def test_greedy_breaks_ties_among_the_equal_best_with_the_rng() -> None:
    sel = feed(GreedySelector(), [row(0, 0.3, None), row(1, 0.8, 0), row(2, 0.2, 0), row(3, 0.8, 1)])
    assert sel.probabilities() == {1: 0.5, 3: 0.5}
    seen = counts(sel, 4000)
    assert set(seen) == {1, 3}
    assert_matches(sel, 4000)


# -- best-of-N ------------------------------------------------------------------------------------------------------


def test_best_of_n_always_samples_from_the_seed() -> None:
    sel = BestOfNSelector()
    sel.observe(row(5, 0.2, None, iteration=0))
    for i in range(6, 30):
        sel.observe(row(i, 0.9, 5))
    assert counts(sel, 200) == {5: 200}
    assert sel.probabilities() == {5: 1.0}
    # Only the seed is offered as an "inspiration": other samples must stay independent.
    assert sel.top(5) == [5]


def test_best_of_n_keeps_a_failed_seed_and_does_not_use_the_rng() -> None:
    sel = BestOfNSelector()
    sel.observe(row(1, None, None, status=Status.FAILED, iteration=0))
    sel.observe(row(2, 0.9, 1))
    rng = random.Random(4)
    state = rng.getstate()
    assert sel.pick(rng) == 1
    assert rng.getstate() == state
    assert sel.top(3) == []


def test_best_of_n_prefers_the_iteration_zero_candidate_as_seed() -> None:
    sel = BestOfNSelector()
    sel.observe(row(8, 0.5, None, iteration=3))
    assert sel.pick(random.Random(0)) == 8
    sel.observe(row(2, 0.1, None, iteration=0))
    assert sel.pick(random.Random(0)) == 2
    sel.observe(row(9, 0.1, None, iteration=0))  # a second "iteration 0" does not move the seed
    assert sel.seed == 2


def test_fitness_incremental_weights_equal_a_fresh_computation() -> None:
    rng = random.Random(9)
    sel = FitnessSelector(temperature=0.3)
    scores: dict[int, float] = {}
    for i in range(2000):
        failed = rng.random() < 0.3
        s = rng.gauss(100, 20) + i / 10
        sel.observe(
            row(
                i,
                None if failed else s,
                None if i == 0 else rng.randrange(i),
                status=Status.FAILED if failed else Status.OK,
            )
        )
        if not failed:
            scores[i] = s
    norm = sel.normalisation
    med, scale = float(norm["median"]), float(norm["scale"])
    w = {i: math.exp((sigmoid(1.702 * (s - med) / scale) - 1.0) / 0.3) for i, s in scores.items()}
    z = sum(w.values())
    got = sel.probabilities()
    assert got.keys() == w.keys()
    for i in w:
        assert got[i] == pytest.approx(w[i] / z, rel=1e-9)
