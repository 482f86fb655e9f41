"""Every selector of ``godel.select.SELECTORS``, under the option sets that change its behaviour, passes the
selector conformance suite (godel.select.testing). What each promises beyond the protocol is declared by the mixins
it takes: RankBased (tournament, greedy, best-of-n, islands, map-elites), ScaleRobust (dgm and fitness on normalised scores),
NeverStarves (dgm and fitness, whatever the options)."""

from __future__ import annotations

from typing import ClassVar

import pytest

from godel.config import SelectorConfig
from godel.select import SELECTORS, Pool, make_selector
from godel.select.testing import NeverStarves, PoolConformance, PoolFactory, RankBased, ScaleRobust


class Configured(PoolConformance):
    """The suite for the selector ``make_selector`` builds from ``options`` (a ``[selector]`` table)."""

    options: ClassVar[dict[str, object]]

    @pytest.fixture
    def make_selector(self) -> PoolFactory:
        config = SelectorConfig.model_validate(self.options)

        def make() -> Pool:
            sel = make_selector(config)
            assert isinstance(sel, Pool)
            return sel

        return make


def test_every_selector_runs_the_suite() -> None:
    assert {cls.options["name"] for cls in Configured.__subclasses__()} == set(SELECTORS)


class TestDGM(ScaleRobust, NeverStarves, Configured):
    options: ClassVar[dict[str, object]] = {"name": "dgm"}


class TestDGMNormalised(ScaleRobust, NeverStarves, Configured):
    options: ClassVar[dict[str, object]] = {"name": "dgm", "normalize": "mad"}


class TestDGMRawScores(NeverStarves, Configured):
    options: ClassVar[dict[str, object]] = {"name": "dgm", "normalize": "none"}


class TestDGMSharp(NeverStarves, Configured):
    options: ClassVar[dict[str, object]] = {"name": "dgm", "lambda": 50.0, "alpha": 0.9}


class TestFitness(ScaleRobust, NeverStarves, Configured):
    options: ClassVar[dict[str, object]] = {"name": "fitness"}


class TestFitnessNormalised(ScaleRobust, NeverStarves, Configured):
    options: ClassVar[dict[str, object]] = {"name": "fitness", "normalize": "mad"}


class TestFitnessRawScores(NeverStarves, Configured):
    options: ClassVar[dict[str, object]] = {"name": "fitness", "normalize": "none"}


class TestFitnessCold(NeverStarves, Configured):
    options: ClassVar[dict[str, object]] = {"name": "fitness", "temperature": 0.05}


class TestTournament(RankBased, Configured):
    options: ClassVar[dict[str, object]] = {"name": "tournament"}


class TestTournamentOfOne(RankBased, Configured):
    options: ClassVar[dict[str, object]] = {"name": "tournament", "tournament_size": 1}


class TestTournamentOfSeven(RankBased, Configured):
    options: ClassVar[dict[str, object]] = {"name": "tournament", "tournament_size": 7}


class TestGreedy(RankBased, Configured):
    options: ClassVar[dict[str, object]] = {"name": "greedy"}


class TestBestOfN(RankBased, Configured):
    options: ClassVar[dict[str, object]] = {"name": "best-of-n"}
    parents = "seed"


class TestIslands(RankBased, Configured):
    options: ClassVar[dict[str, object]] = {"name": "islands"}


class TestIslandsMigratingOften(RankBased, Configured):
    options: ClassVar[dict[str, object]] = {
        "name": "islands",
        "islands": 3,
        "migration_interval": 1,
        "migration_rate": 1.0,
        "tournament_size": 2,
    }


class TestOneIsland(RankBased, Configured):
    options: ClassVar[dict[str, object]] = {"name": "islands", "islands": 1}


class TestMapElites(RankBased, Configured):
    options: ClassVar[dict[str, object]] = {"name": "map-elites"}
