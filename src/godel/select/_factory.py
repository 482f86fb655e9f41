"""Build a selector from ``[selector]`` configuration."""

from __future__ import annotations

from godel.archive import Archive
from godel.config import SelectorConfig
from godel.errors import ConfigError
from godel.select._base import Selector
from godel.select._elites import MapElitesSelector
from godel.select._features import archive_describer
from godel.select._islands import IslandSelector
from godel.select._simple import BestOfNSelector, GreedySelector, TournamentSelector
from godel.select._weighted import DGMSelector, FitnessSelector

__all__ = ["SELECTORS", "make_selector"]

SELECTORS = ("dgm", "fitness", "tournament", "greedy", "best-of-n", "islands", "map-elites")


def make_selector(config: SelectorConfig, archive: Archive | None = None) -> Selector:
    """A fresh selector for ``config.name``; the options a strategy does not use are ignored. MAP-Elites reads its
    descriptors from ``archive``; without one its cells are generations."""
    if config.name == "dgm":
        return DGMSelector(lambda_=config.lambda_, alpha=config.alpha, normalize=config.normalize)
    if config.name == "fitness":
        return FitnessSelector(temperature=config.temperature, normalize=config.normalize)
    if config.name == "tournament":
        return TournamentSelector(size=config.tournament_size)
    if config.name == "greedy":
        return GreedySelector()
    if config.name == "best-of-n":
        return BestOfNSelector()
    if config.name == "islands":
        return IslandSelector(
            islands=config.islands,
            migration_interval=config.migration_interval,
            migration_rate=config.migration_rate,
            tournament_size=config.tournament_size,
        )
    if config.name == "map-elites":
        describe = archive_describer(archive, config.features) if archive is not None else None
        return MapElitesSelector(
            describe=describe, bin_width=config.feature_bin_width, bins=config.feature_bins
        )
    raise ConfigError(
        f"unknown selector {config.name!r}", hint=f"set [selector] name to one of {', '.join(SELECTORS)}"
    )
