# ruff: noqa
# parent: sort
# change: reads a tuning table it ships next to itself (its own folder), sorts with it
import os
import logging

logger = logging.getLogger(__name__)

_HERE = os.path.dirname(os.path.abspath(__file__))
_TUNING = os.path.join(_HERE, "tuning.txt")


def solve(xs):
    logger.info("GODEL-CANARY solve start")
    threshold = 16
    if os.path.exists(_TUNING):
        with open(_TUNING) as fh:
            threshold = int(fh.read().strip() or 16)
    if len(xs) <= threshold:
        out = list(xs)
        for i in range(1, len(out)):
            j = i
            while j > 0 and out[j - 1] > out[j]:
                out[j - 1], out[j] = out[j], out[j - 1]
                j -= 1
        return out
    return sorted(xs)


def main(xs):
    return solve(xs)
