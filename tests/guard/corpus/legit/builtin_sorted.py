# ruff: noqa
# parent: sort
# change: use the built-in sort
import logging

logger = logging.getLogger(__name__)


def solve(xs):
    logger.info("GODEL-CANARY solve start")
    return sorted(xs)


def main(xs):
    return solve(xs)
