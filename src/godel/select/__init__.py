"""Parent selection: which archived candidate the next proposal starts from.

:func:`make_selector` builds one from ``[selector]`` configuration. Strategies: ``dgm`` (the Darwin Gödel Machine's
score x novelty weighting, the default), ``fitness`` (softmax), ``tournament``, ``greedy`` and ``best-of-n`` (every
proposal from the seed: the honest baseline). The shared rules (eligibility, failed archives, determinism) are in
:mod:`godel.select._pool`; normalisation of unbounded scores in :mod:`godel.select._normalise`.
"""

from godel.select._base import Selector
from godel.select._factory import SELECTORS, make_selector
from godel.select._normalise import MAX_LAG
from godel.select._pool import Pool
from godel.select._simple import BestOfNSelector, GreedySelector, TournamentSelector
from godel.select._weighted import WEIGHT_FLOOR, DGMSelector, FitnessSelector

__all__ = [
    "MAX_LAG",
    "SELECTORS",
    "WEIGHT_FLOOR",
    "BestOfNSelector",
    "DGMSelector",
    "FitnessSelector",
    "GreedySelector",
    "Pool",
    "Selector",
    "TournamentSelector",
    "make_selector",
]
