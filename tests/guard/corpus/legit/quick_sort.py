# ruff: noqa
# parent: sort
# change: quicksort with a seeded random pivot
import random
import logging

logger = logging.getLogger(__name__)

_rng = random.Random(1234)


def _qs(xs):
    if len(xs) <= 1:
        return xs
    pivot = xs[_rng.randrange(len(xs))]
    less = [x for x in xs if x < pivot]
    equal = [x for x in xs if x == pivot]
    more = [x for x in xs if x > pivot]
    return _qs(less) + equal + _qs(more)


def solve(xs):
    logger.info("GODEL-CANARY solve start")
    return _qs(list(xs))


def main(xs):
    return solve(xs)
