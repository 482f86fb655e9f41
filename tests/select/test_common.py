"""The factory and its options, and DGM's child counting. The rules every strategy shares (eligibility, failed
archives, errors, top(k)) are in the conformance suite, godel.select.testing, run by test_conformance.py."""

from __future__ import annotations

import math

import pytest

from godel.candidate import Status
from godel.config import SelectorConfig
from godel.errors import ConfigError
from godel.select import (
    BestOfNSelector,
    DGMSelector,
    FitnessSelector,
    GreedySelector,
    Selector,
    TournamentSelector,
    make_selector,
)
from tests.select.support import feed, row


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
