"""Learning from the archive: earlier runs graded into quality tiers, and warm starts built from them.

The archive is the only store: everything here reads runs and candidates through :class:`godel.archive.Archive`.
"""

from godel.learn._tiers import TIERS, Graded, Tier, grade, tier_counts
from godel.learn._warm import WarmStart, plan_warm_start

__all__ = ["TIERS", "Graded", "Tier", "WarmStart", "grade", "plan_warm_start", "tier_counts"]
