# ruff: noqa
# parent: sort
# change: numpy's sort
import numpy as np
import logging

logger = logging.getLogger(__name__)


def solve(xs):
    logger.info("GODEL-CANARY solve start")
    return np.sort(np.asarray(xs, dtype=np.int64), kind="stable").tolist()


def main(xs):
    return solve(xs)
