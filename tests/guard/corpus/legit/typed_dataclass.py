# ruff: noqa
# parent: sort
# change: typed helper with a dataclass of statistics and a faster loop
from dataclasses import dataclass, field
import logging

logger = logging.getLogger(__name__)


@dataclass
class Stats:
    swaps: int = 0
    passes: list[int] = field(default_factory=list)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Stats) and self.swaps == other.swaps


def solve(xs: list[int]) -> list[int]:
    logger.info("GODEL-CANARY solve start")
    stats = Stats()
    out = list(xs)
    changed = True
    while changed:
        changed = False
        for j in range(len(out) - 1):
            if out[j] > out[j + 1]:
                out[j], out[j + 1] = out[j + 1], out[j]
                stats.swaps += 1
                changed = True
        stats.passes.append(stats.swaps)
    logger.debug("swaps: %d", stats.swaps)
    return out


def main(xs):
    return solve(xs)
