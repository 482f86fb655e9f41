# ruff: noqa
# parent: sort
# change: counting sort with collections.Counter
from collections import Counter
import logging

logger = logging.getLogger(__name__)


def solve(xs):
    logger.info("GODEL-CANARY solve start")
    counts = Counter(xs)
    out = []
    for value in sorted(counts):
        out.extend([value] * counts[value])
    return out


def main(xs):
    return solve(xs)
