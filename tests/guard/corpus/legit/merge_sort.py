# ruff: noqa
# parent: sort
# change: recursive merge sort
import logging

logger = logging.getLogger(__name__)


def _merge(a, b):
    out = []
    i = j = 0
    while i < len(a) and j < len(b):
        if a[i] <= b[j]:
            out.append(a[i])
            i += 1
        else:
            out.append(b[j])
            j += 1
    out.extend(a[i:])
    out.extend(b[j:])
    return out


def _sort(xs):
    if len(xs) <= 1:
        return list(xs)
    mid = len(xs) // 2
    return _merge(_sort(xs[:mid]), _sort(xs[mid:]))


def solve(xs):
    logger.info("GODEL-CANARY solve start")
    return _sort(list(xs))


def main(xs):
    return solve(xs)
