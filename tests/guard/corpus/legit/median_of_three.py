# ruff: noqa
# parent: sort
# change: in-place quicksort with median-of-three pivots
import statistics
import logging

logger = logging.getLogger(__name__)


def _partition(a, lo, hi):
    mid = (lo + hi) // 2
    pivot = statistics.median_low([a[lo], a[mid], a[hi]])
    i, j = lo, hi
    while i <= j:
        while a[i] < pivot:
            i += 1
        while a[j] > pivot:
            j -= 1
        if i <= j:
            a[i], a[j] = a[j], a[i]
            i += 1
            j -= 1
    return i, j


def _qs(a, lo, hi):
    if lo < hi:
        i, j = _partition(a, lo, hi)
        _qs(a, lo, j)
        _qs(a, i, hi)


def solve(xs):
    logger.info("GODEL-CANARY solve start")
    out = list(xs)
    _qs(out, 0, len(out) - 1)
    return out


def main(xs):
    return solve(xs)
