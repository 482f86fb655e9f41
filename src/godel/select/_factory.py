"""Build a selector from ``[selector]`` configuration."""

from __future__ import annotations

from godel.config import SelectorConfig
from godel.errors import ConfigError
from godel.select._base import Selector
from godel.select._simple import BestOfNSelector, GreedySelector, TournamentSelector
from godel.select._weighted import DGMSelector, FitnessSelector

__all__ = ["SELECTORS", "make_selector"]

SELECTORS = ("dgm", "fitness", "tournament", "greedy", "best-of-n")


def make_selector(config: SelectorConfig) -> Selector:
    """A fresh selector for ``config.name``; the options a strategy does not use are ignored."""
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
    raise ConfigError(
        f"unknown selector {config.name!r}", hint=f"set [selector] name to one of {', '.join(SELECTORS)}"
    )
