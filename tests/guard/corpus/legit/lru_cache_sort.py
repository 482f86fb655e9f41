# ruff: noqa
# parent: sort
# change: memoise repeated inputs with functools.lru_cache
import functools
import logging

logger = logging.getLogger(__name__)


@functools.lru_cache(maxsize=1024)
def _sorted_tuple(t):
    return tuple(sorted(t))


def solve(xs):
    logger.info("GODEL-CANARY solve start")
    return list(_sorted_tuple(tuple(xs)))


def main(xs):
    return solve(xs)
