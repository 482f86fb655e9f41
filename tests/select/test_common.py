"""Rules every strategy shares: eligibility, failed archives, errors, top(k), the factory."""

from __future__ import annotations

import math
import random

import pytest

from godel.candidate import Status
from godel.config import SelectorConfig
from godel.errors import ConfigError, SelectionError
from godel.select import (
    BestOfNSelector,
    DGMSelector,
    FitnessSelector,
    GreedySelector,
    Selector,
    TournamentSelector,
    make_selector,
)
from tests.select.support import NAMES, assert_matches, counts, feed, row, selector


@pytest.mark.parametrize(
    ("name", "cls"),
    [
        ("dgm", DGMSelector),
        ("fitness", FitnessSelector),
        ("tournament", TournamentSelector),
        ("greedy", GreedySelector),
        ("best-of-n", BestOfNSelector),
    ],
)
def test_factory_builds_each_strategy(name: str, cls: type) -> None:
    sel = make_selector(SelectorConfig.model_validate({"name": name}))
    assert isinstance(sel, cls)
    assert isinstance(sel, Selector)
    assert sel.name == name


def test_factory_passes_the_options() -> None:
    dgm = make_selector(SelectorConfig.model_validate({"name": "dgm", "lambda": 3.0, "alpha": 0.2}))
    assert isinstance(dgm, DGMSelector)
    assert (dgm.lambda_, dgm.alpha) == (3.0, 0.2)
    fit = make_selector(SelectorConfig.model_validate({"name": "fitness", "temperature": 0.25}))
    assert isinstance(fit, FitnessSelector)
    assert fit.temperature == 0.25
    tour = make_selector(SelectorConfig.model_validate({"name": "tournament", "tournament_size": 5}))
    assert isinstance(tour, TournamentSelector)
    assert tour.size == 5


def test_bad_options_raise_config_errors() -> None:
    with pytest.raises(ConfigError, match="lambda"):
        DGMSelector(lambda_=math.inf)
    with pytest.raises(ConfigError, match="alpha"):
        DGMSelector(alpha=math.nan)
    with pytest.raises(ConfigError, match="temperature"):
        FitnessSelector(temperature=0.0)
    with pytest.raises(ConfigError, match="tournament_size"):
        TournamentSelector(size=0)
    with pytest.raises(ConfigError, match="normalize"):
        DGMSelector(normalize="zscore")  # type: ignore[arg-type]


@pytest.mark.parametrize("name", NAMES)
def test_nothing_observed_raises(name: str) -> None:
    sel = selector(name)
    with pytest.raises(SelectionError, match="no candidate has been observed"):
        sel.pick(random.Random(0))
    assert sel.top(3) == []
    assert sel.probabilities() == {}


@pytest.mark.parametrize("name", NAMES)
def test_single_candidate_is_always_picked(name: str) -> None:
    sel = feed(selector(name), [row(7, 0.3, iteration=0)])
    assert counts(sel, 200) == {7: 200}
    assert sel.probabilities() == {7: 1.0}
    assert sel.top(5) == [7]


@pytest.mark.parametrize("name", ["dgm", "fitness", "tournament", "greedy"])
def test_all_failed_archive_picks_uniformly_among_observed(name: str) -> None:
    rows = [row(1, None, status=Status.FAILED, iteration=0)]
    rows += [row(i, None, 1, status=Status.FAILED) for i in range(2, 5)]
    rows += [row(5, 0.9, 1, status=Status.REJECTED), row(6, 0.9, 1, flagged=True)]
    rows += [row(7, None, 1, status=Status.PENDING), row(8, None, 1, status=Status.OK)]
    sel = feed(selector(name), rows)
    assert sel.eligible_count == 0
    assert sel.probabilities() == {i: 1 / 8 for i in range(1, 9)}
    assert sel.top(3) == []
    assert set(counts(sel, 4000)) == set(range(1, 9))
    assert_matches(sel, 8000)


@pytest.mark.parametrize("name", ["dgm", "fitness", "tournament", "greedy"])
def test_once_one_candidate_is_eligible_only_eligible_ones_are_picked(name: str) -> None:
    rows = [row(1, None, status=Status.FAILED, iteration=0)]
    rows += [row(i, None, 1, status=Status.FAILED) for i in range(2, 6)]
    rows += [row(6, 0.2, 1), row(7, 0.99, 1, flagged=True), row(8, 1.0, 6, status=Status.AWAITING_APPROVAL)]
    sel = feed(selector(name), rows)
    assert counts(sel, 500) == {6: 500}


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_ok_rows_with_non_finite_scores_are_rejected(name: str, bad: float) -> None:
    sel = feed(selector(name), [row(1, 0.5, iteration=0)])
    with pytest.raises(SelectionError, match="non-finite score") as info:
        sel.observe(row(2, bad, 1))
    assert "failed" in str(info.value)  # the hint names the fix
    assert len(sel) == 1, "a rejected row must leave the selector unchanged"
    assert sel.children(1) == 0
    # Non-finite scores on rows that are not OK carry no meaning for selection and are accepted.
    sel.observe(row(3, bad, 1, status=Status.FAILED))
    assert len(sel) == 2
    assert sel.children(1) == 1


@pytest.mark.parametrize("name", NAMES)
def test_observing_an_id_twice_is_an_error(name: str) -> None:
    sel = feed(selector(name), [row(1, 0.5, iteration=0), row(2, 0.6, 1)])
    with pytest.raises(SelectionError, match="observed twice"):
        sel.observe(row(2, 0.7, 1))
    assert len(sel) == 2
    assert sel.children(1) == 1


def test_every_row_counts_as_a_child_whatever_its_status() -> None:
    sel = DGMSelector()
    feed(sel, [row(1, 0.5, iteration=0)])
    for i, status in enumerate(Status, start=2):
        sel.observe(row(i, None, 1, status=status))
    sel.observe(row(20, 0.5, 1, flagged=True))
    assert sel.children(1) == len(Status) + 1


def test_children_observed_before_their_parent_are_counted() -> None:
    sel = DGMSelector()
    feed(sel, [row(1, 0.5, iteration=0), row(3, 0.5, 2), row(4, None, 2, status=Status.FAILED)])
    assert sel.children(2) == 2
    sel.observe(row(2, 0.5, 1))
    assert sel.children(2) == 2
    probs = sel.probabilities()
    # Equal scores: weight 1/(1+children). 1 has one child (2), 2 has two, 3 none.
    assert probs[1] / probs[3] == pytest.approx(1 / 2)
    assert probs[2] / probs[3] == pytest.approx(1 / 3)


@pytest.mark.parametrize("name", ["dgm", "fitness", "tournament", "greedy"])
def test_top_is_best_first_with_ties_in_observation_order(name: str) -> None:
    rows = [
        row(1, 0.5, iteration=0),
        row(2, 0.9, 1),
        row(3, 0.7, 1),
        row(4, 0.9, 3),
        row(5, 0.99, 3, flagged=True),
        row(6, None, 3, status=Status.FAILED),
        row(7, -2.0, 1),
    ]
    sel = feed(selector(name), rows)
    assert sel.top(3) == [2, 4, 3]
    assert sel.top(10) == [2, 4, 3, 1, 7]
    assert sel.top(0) == []


def test_top_beyond_the_leaderboard_scans_everything() -> None:
    rng = random.Random(3)
    scores = [rng.choice([rng.random(), 0.5]) for _ in range(300)]
    sel = feed(GreedySelector(), [row(i, s, None if i == 0 else 0) for i, s in enumerate(scores)])
    expected = sorted(range(300), key=lambda i: (-scores[i], i))
    for k in (1, 10, 64, 65, 200, 300, 400):
        assert sel.top(k) == expected[:k]
