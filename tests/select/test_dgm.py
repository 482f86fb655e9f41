from __future__ import annotations

import itertools
import math
import random
import warnings

import numpy as np
import pytest

from godel.candidate import Status
from godel.select import MAX_LAG, DGMSelector
from godel.select._normalise import lag, sigmoid
from tests.select.support import assert_matches, counts, feed, row


def _dgm_probs(
    scores: dict[int, float], children: dict[int, int], lam: float, alpha: float
) -> dict[int, float]:
    w = {i: sigmoid(lam * (s - alpha)) / (1 + children.get(i, 0)) for i, s in scores.items()}
    total = sum(w.values())
    return {i: v / total for i, v in w.items()}


def test_raw_scores_follow_the_dgm_formula() -> None:
    # 1 is the seed; 2 and 3 are its children; 4 is a failed child of 2; 5 a child of 3.
    rows = [
        row(1, 0.4, iteration=0),
        row(2, 0.7, 1),
        row(3, 0.55, 1),
        row(4, None, 2, status=Status.FAILED),
        row(5, 0.1, 3),
    ]
    sel = feed(DGMSelector(), rows)
    assert sel.normalisation["kind"] == "raw"
    expected = _dgm_probs({1: 0.4, 2: 0.7, 3: 0.55, 5: 0.1}, {1: 2, 2: 1, 3: 1}, 10.0, 0.5)
    got = sel.probabilities()
    assert got.keys() == expected.keys()
    for i in expected:
        assert got[i] == pytest.approx(expected[i], rel=1e-12)
    assert_matches(sel)


def test_lambda_and_alpha_are_honoured() -> None:
    rows = [row(1, 0.2, iteration=0), row(2, 0.8, 1), row(3, 0.5, 1)]
    sel = feed(DGMSelector(lambda_=3.0, alpha=0.3), rows)
    expected = _dgm_probs({1: 0.2, 2: 0.8, 3: 0.5}, {1: 2}, 3.0, 0.3)
    for i, p in sel.probabilities().items():
        assert p == pytest.approx(expected[i], rel=1e-12)


def test_fewer_children_are_preferred_at_equal_score() -> None:
    rows = [row(1, 0.6, iteration=0), row(2, 0.6, 1), row(3, 0.6, 1)]
    rows += [row(10 + i, None, 2, status=Status.FAILED) for i in range(3)]  # failed children count too
    sel = feed(DGMSelector(), rows)
    probs = sel.probabilities()
    # children: 1 -> 2, 2 -> 3, 3 -> 0
    assert probs[3] > probs[1] > probs[2]
    assert probs[3] / probs[2] == pytest.approx(4.0)
    seen = counts(sel, 20_000)
    assert seen[3] > seen[1] > seen[2]


def test_every_new_child_lowers_the_parents_share() -> None:
    sel = feed(DGMSelector(), [row(1, 0.9, iteration=0), row(2, 0.3, 1)])
    shares = [sel.probabilities()[1]]
    for i in range(3, 9):
        sel.observe(row(i, None, 1, status=Status.FAILED))
        shares.append(sel.probabilities()[1])
    assert all(a > b for a, b in itertools.pairwise(shares))


def test_unbounded_and_negative_scores_switch_to_mad_normalisation() -> None:
    scores = [-120.0, -3.5, 0.0, 2.0, 17.0, 250.0, 9.0, -40.0]
    sel = feed(DGMSelector(), [row(i, s, None if i == 0 else 0) for i, s in enumerate(scores)])
    norm = sel.normalisation
    assert norm["kind"] == "mad"
    med = float(np.median(scores))
    mad = float(np.median(np.abs(np.array(scores) - med)))
    assert norm["median"] == pytest.approx(med)
    assert norm["scale"] == pytest.approx(1.4826 * mad)
    probs = sel.probabilities()
    assert all(p > 0 for p in probs.values())
    # With children equal (the seed has the rest as children, so exclude it) probability grows with the score.
    others = sorted(range(1, len(scores)), key=lambda i: scores[i])
    assert [probs[i] for i in others] == sorted(probs[i] for i in others)
    # The median maps to x = 0.5, i.e. s = sigmoid(lambda * (0.5 - alpha)) = 0.5 with the defaults; bounded s.
    assert max(probs.values()) / min(probs[i] for i in others) <= sigmoid(5.0) / sigmoid(-5.0)
    assert_matches(sel)


def test_mad_normalisation_is_invariant_to_shift_and_scale() -> None:
    rng = random.Random(5)
    scores = [rng.gauss(0, 1) for _ in range(50)]
    parents = [None] + [rng.randrange(i) for i in range(1, 50)]

    def probs(a: float, b: float) -> list[float]:
        sel = feed(
            DGMSelector(normalize="mad"), [row(i, a * s + b, parents[i]) for i, s in enumerate(scores)]
        )
        p = sel.probabilities()
        return [p[i] for i in range(50)]

    base = probs(1.0, 0.0)
    assert probs(1000.0, -5e4) == pytest.approx(base, rel=1e-9)
    assert probs(1e-6, 3.0) == pytest.approx(base, rel=1e-6)


def test_auto_keeps_raw_scores_inside_the_unit_interval_and_mad_forces_normalisation() -> None:
    rows = [row(1, 0.0, iteration=0), row(2, 1.0, 1), row(3, 0.25, 1)]
    assert feed(DGMSelector(), rows).normalisation["kind"] == "raw"
    assert feed(DGMSelector(normalize="mad"), rows).normalisation["kind"] == "mad"
    assert feed(DGMSelector(normalize="none"), [*rows, row(4, 7.0, 1)]).normalisation["kind"] == "raw"
    # normalize="none" on unbounded scores: plain DGM formula, floored so that nobody starves.
    sel = feed(DGMSelector(normalize="none"), [*rows, row(4, 7.0, 1), row(5, -1e6, 1)])
    probs = sel.probabilities()
    assert probs[5] > 0
    assert probs[4] > probs[2] > probs[3] > probs[5]


def test_zero_mad_falls_back_to_the_mean_absolute_deviation() -> None:
    scores = [5.0] * 6 + [7.0, 2.0]  # more than half equal to the median: MAD = 0
    sel = feed(DGMSelector(), [row(i, s, None if i == 0 else 0) for i, s in enumerate(scores)])
    mean_ad = float(np.mean(np.abs(np.array(scores) - 5.0)))
    assert sel.normalisation["scale"] == pytest.approx(1.2533 * mean_ad)
    probs = sel.probabilities()
    assert probs[6] > probs[1] > probs[7] > 0


def test_all_equal_unbounded_scores_give_equal_weights() -> None:
    sel = feed(DGMSelector(), [row(i, 42.0, None) for i in range(10)])
    probs = sel.probabilities()
    assert probs == pytest.approx({i: 0.1 for i in range(10)})
    assert sel.normalisation["scale"] == 42.0


def test_huge_scores_stay_finite_and_warning_free() -> None:
    scores = [1e308, -1e308, 1.7e308, 0.0, 3.0, -1.7e308, 5e-324]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for normalize in ("auto", "none", "mad"):
            sel = feed(DGMSelector(normalize=normalize), [row(i, s, None) for i, s in enumerate(scores)])
            probs = sel.probabilities()
            assert len(probs) == len(scores)
            assert all(math.isfinite(p) and p > 0 for p in probs.values())
            assert probs[2] >= probs[0] >= probs[4] >= probs[1] >= probs[5]
            sel.pick(random.Random(0))


def test_normalisation_lags_by_a_bounded_number_of_observations() -> None:
    assert [lag(n) for n in (0, 1, 31, 64, 6400, 10**6)] == [1, 1, 1, 2, 200, MAX_LAG]
    rng = random.Random(11)
    sel = DGMSelector()
    scores: list[float] = []
    refitted_at = 0  # the documented schedule: refit at n when n >= previous refit + lag(previous refit)
    for i in range(3000):
        s = rng.gauss(10, 3) + i / 100  # drifting upwards: the median moves
        scores.append(s)
        sel.observe(row(i, s, None if i == 0 else rng.randrange(i)))
        n = len(scores)
        if refitted_at == 0 or n >= refitted_at + lag(refitted_at):
            refitted_at = n
        assert n - refitted_at < min(max(1, n // 32), MAX_LAG)
        assert sel.normalisation["median"] == float(np.median(scores[:refitted_at]))
    assert refitted_at < 3000, "the schedule must actually lag at this size"


def test_incremental_weights_equal_a_fresh_computation() -> None:
    """Child updates and stale-normalisation appends give exactly the weights a rebuild would give."""
    rng = random.Random(2)
    sel = DGMSelector()
    scores: dict[int, float] = {}
    children: dict[int, int] = {}
    for i in range(2500):
        parent = None if i == 0 else rng.randrange(i)
        failed = rng.random() < 0.3
        s = rng.gauss(0, 5)
        sel.observe(row(i, None if failed else s, parent, status=Status.FAILED if failed else Status.OK))
        if not failed:
            scores[i] = s
        if parent is not None:
            children[parent] = children.get(parent, 0) + 1
    norm = sel.normalisation
    med, scale = float(norm["median"]), float(norm["scale"])
    xs = {i: sigmoid(1.702 * (s - med) / scale) for i, s in scores.items()}
    expected = _dgm_probs(xs, children, 10.0, 0.5)
    got = sel.probabilities()
    assert got.keys() == expected.keys()
    for i in expected:
        assert got[i] == pytest.approx(expected[i], rel=1e-9)
