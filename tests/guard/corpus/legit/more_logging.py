# ruff: noqa
# parent: sort
# change: keeps the marker, adds progress logging and an early exit for sorted input
import logging

logger = logging.getLogger(__name__)


def solve(xs):
    logger.info("GODEL-CANARY solve start")
    out = list(xs)
    if all(a <= b for a, b in zip(out, out[1:])):
        logger.info("already sorted")
        return out
    out.sort()
    logger.debug("sorted %d items", len(out))
    return out


def main(xs):
    return solve(xs)
