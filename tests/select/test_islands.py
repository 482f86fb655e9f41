"""The island model: lineage decides the island, migration follows the ring, one island is a tournament."""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from godel.archive import CandidateRow
from godel.candidate import Status
from godel.errors import ConfigError
from godel.select import IslandSelector
from godel.select.testing import archives

from .support import feed, row, selector

_SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _islands(**options: object) -> IslandSelector:
    sel = selector("islands", **options)
    assert isinstance(sel, IslandSelector)
    return sel


@_SETTINGS
@given(archives(), st.integers(1, 6), st.integers(1, 5))
def test_a_child_starts_on_one_of_its_parents_islands(
    rows: list[CandidateRow], n: int, interval: int
) -> None:
    sel = _islands(islands=n, migration_interval=interval, migration_rate=0.5)
    for r in rows:
        parent_islands = sel.islands_of(r.parent_id) if r.parent_id is not None else ()
        sel.observe(r)
        home = sel.islands_of(r.id)
        if r.iteration == 0:
            assert home[:n] == tuple(range(n)), "the seed lives on every island"
        elif parent_islands:
            assert home[0] in parent_islands
        assert all(0 <= i < n for i in home) and len(set(home)) == len(home)


@_SETTINGS
@given(archives(), st.integers(2, 5))
def test_each_migration_brings_an_islands_best_to_the_next_island(rows: list[CandidateRow], n: int) -> None:
    # Migration reads every island before changing any, so what island i held before a step has reached island
    # i + 1 after it (when that island had members to compare with).
    sel = _islands(islands=n, migration_interval=1, migration_rate=1.0)
    before: list[float | None] = [None] * n
    for r in rows:
        sel.observe(r)
        now = [
            max((s for cid, s in _scores(rows) if i in sel.islands_of(cid)), default=None) for i in range(n)
        ]
        for i in range(n):
            dest = (i + 1) % n
            src, there, after = before[i], before[dest], now[dest]
            if src is not None and there is not None:
                assert after is not None and after >= src
        before = now


def _scores(rows: list[CandidateRow]) -> list[tuple[int, float]]:
    return [(r.id, r.score) for r in rows if r.status == Status.OK and r.score is not None and not r.flagged]


@_SETTINGS
@given(archives(), st.integers(2, 5))
def test_without_migration_every_candidate_but_the_seed_lives_on_one_island(
    rows: list[CandidateRow], n: int
) -> None:
    sel = feed(_islands(islands=n, migration_interval=10_000), rows)
    for r in rows[1:]:
        assert len(sel.islands_of(r.id)) == 1
    assert sum(sel.island_sizes()) == len(_scores(rows)) + (n - 1) * (rows[0].id in dict(_scores(rows)))


@_SETTINGS
@given(archives(), st.integers(1, 7))
def test_one_island_is_a_tournament(rows: list[CandidateRow], size: int) -> None:
    one = feed(_islands(islands=1, tournament_size=size), rows)
    tournament = feed(selector("tournament", tournament_size=size), rows)
    assert one.probabilities() == pytest.approx(tournament.probabilities())


def test_the_seeds_children_are_spread_over_the_islands() -> None:
    sel = feed(_islands(islands=4, migration_interval=1000), [row(0, 0.1, iteration=0)])
    for cid in range(1, 9):
        sel.observe(row(cid, 0.2, 0))
    assert sel.island_sizes() == [3, 3, 3, 3]  # the seed on each, plus two children each


def test_a_better_island_sends_its_best_along_the_ring() -> None:
    sel = _islands(islands=3, migration_interval=4, migration_rate=0.5)
    feed(sel, [row(0, 0.1, iteration=0), row(1, 0.9, 0), row(2, 0.2, 0)])  # 1 on island 1, 2 on island 2
    assert sel.islands_of(1) == (1,)
    sel.observe(row(3, 0.3, 0))  # island 0; the fourth observation migrates
    assert sel.islands_of(1) == (1, 2), "0.9 beats island 2's best (0.2) and joins it"
    assert sel.islands_of(3) == (0,), "0.3 does not beat island 1's best (0.9)"
    assert sel.islands_of(2) == (2,)
    sel.observe(row(4, 0.5, 1))  # a child of the migrant: on island 1 or 2, chosen by its id
    assert sel.islands_of(4) == ((1, 2)[4 % 2],)


def test_picks_only_from_the_drawn_islands_members() -> None:
    sel = feed(
        _islands(islands=2, migration_interval=1000, tournament_size=1),
        [row(0, None, status=Status.FAILED, iteration=0)],
    )
    feed(sel, [row(1, 0.5, 0), row(2, 0.7, 0), row(3, 0.1, 1)])  # islands: 1 -> 1, 2 -> 0, 3 -> 1
    probs = sel.probabilities()
    assert probs == pytest.approx({1: 1 / 3, 2: 1 / 3, 3: 1 / 3})
    rng = random.Random(0)
    assert {sel.pick(rng) for _ in range(200)} == {1, 2, 3}


@pytest.mark.parametrize(
    "options",
    [{"islands": 0}, {"migration_interval": 0}, {"migration_rate": 0.0}, {"migration_rate": 1.5}],
)
def test_bad_options_are_config_errors(options: dict[str, float]) -> None:
    with pytest.raises(ConfigError):
        IslandSelector(**options)  # type: ignore[arg-type]
