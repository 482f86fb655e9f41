# ruff: noqa
# parent: sort
# change: binary insertion with bisect
import bisect
import logging

logger = logging.getLogger(__name__)


def solve(xs):
    logger.info("GODEL-CANARY solve start")
    out = []
    for x in xs:
        bisect.insort(out, x)
    return out


def main(xs):
    return solve(xs)
