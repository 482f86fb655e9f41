# ruff: noqa
# parent: sort
# change: heap sort with heapq
import heapq
import logging

logger = logging.getLogger(__name__)


def solve(xs):
    logger.info("GODEL-CANARY solve start")
    heap = list(xs)
    heapq.heapify(heap)
    return [heapq.heappop(heap) for _ in range(len(heap))]


def main(xs):
    return solve(xs)
