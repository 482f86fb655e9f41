"""Learning from the archive: earlier runs graded into quality tiers, warm starts built from them, and the outcome
predictor that learns from a run's own results which proposals are worth evaluating.

The archive is the only store: everything here reads runs and candidates through :class:`godel.archive.Archive`.
"""

from godel.learn._memory import Failure, Memory, Strategy, StrategyIndex, strategy_of
from godel.learn._predict import FEATURES, OutcomePredictor, Prediction, outcome_of
from godel.learn._tiers import TIERS, Graded, Tier, grade, tier_counts
from godel.learn._warm import WarmStart, plan_warm_start

__all__ = [
    "FEATURES",
    "TIERS",
    "Failure",
    "Graded",
    "Memory",
    "OutcomePredictor",
    "Prediction",
    "Strategy",
    "StrategyIndex",
    "Tier",
    "WarmStart",
    "grade",
    "outcome_of",
    "plan_warm_start",
    "strategy_of",
    "tier_counts",
]
