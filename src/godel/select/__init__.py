"""Parent selection: which archived candidate the next proposal starts from.

:func:`make_selector` builds one from ``[selector]`` configuration. Strategies: ``dgm`` (the Darwin Gödel Machine's
score x novelty weighting, the default), ``fitness`` (softmax), ``tournament``, ``greedy`` and ``best-of-n`` (every
proposal from the seed: the honest baseline), ``islands`` (ring-connected sub-populations, :mod:`godel.select._islands`)
and ``map-elites`` (elites of behaviour cells, :mod:`godel.select._elites`). The shared rules (eligibility, failed archives, determinism) are in
:mod:`godel.select._pool`; normalisation of unbounded scores in :mod:`godel.select._normalise`.
"""

from godel.select._base import Selector
from godel.select._elites import MapElitesSelector
from godel.select._factory import SELECTORS, make_selector
from godel.select._features import BUILTIN_FEATURES, archive_describer, program_features
from godel.select._islands import IslandSelector
from godel.select._normalise import MAX_LAG
from godel.select._pool import Pool
from godel.select._simple import BestOfNSelector, GreedySelector, TournamentSelector
from godel.select._weighted import WEIGHT_FLOOR, DGMSelector, FitnessSelector

__all__ = [
    "BUILTIN_FEATURES",
    "MAX_LAG",
    "SELECTORS",
    "WEIGHT_FLOOR",
    "BestOfNSelector",
    "DGMSelector",
    "FitnessSelector",
    "GreedySelector",
    "IslandSelector",
    "MapElitesSelector",
    "Pool",
    "Selector",
    "TournamentSelector",
    "archive_describer",
    "make_selector",
    "program_features",
]
