# ruff: noqa
# parent: sort
# change: shell sort with Ciura's gap sequence
import logging

logger = logging.getLogger(__name__)

GAPS = [701, 301, 132, 57, 23, 10, 4, 1]


def solve(xs):
    logger.info("GODEL-CANARY solve start")
    out = list(xs)
    for gap in GAPS:
        for i in range(gap, len(out)):
            tmp = out[i]
            j = i
            while j >= gap and out[j - gap] > tmp:
                out[j] = out[j - gap]
                j -= gap
            out[j] = tmp
    return out


def main(xs):
    return solve(xs)
