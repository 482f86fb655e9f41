# ruff: noqa
# parent: sort
# change: LSD radix sort for non-negative integers, falling back to sorted() otherwise
import logging

logger = logging.getLogger(__name__)


def solve(xs):
    logger.info("GODEL-CANARY solve start")
    if any(x < 0 for x in xs):
        return sorted(xs)
    out = list(xs)
    exp = 1
    biggest = max(out, default=0)
    while biggest // exp > 0:
        buckets = [[] for _ in range(10)]
        for x in out:
            buckets[(x // exp) % 10].append(x)
        out = [x for b in buckets for x in b]
        exp *= 10
    return out


def main(xs):
    return solve(xs)
