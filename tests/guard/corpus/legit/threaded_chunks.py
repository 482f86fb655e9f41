# ruff: noqa
# parent: sort
# change: sort chunks in a thread pool and merge them with heapq.merge
import heapq
from concurrent.futures import ThreadPoolExecutor
import logging

logger = logging.getLogger(__name__)


def solve(xs):
    logger.info("GODEL-CANARY solve start")
    size = max(1, len(xs) // 4)
    chunks = [list(xs[i : i + size]) for i in range(0, len(xs), size)]
    with ThreadPoolExecutor(max_workers=2) as pool:
        parts = list(pool.map(sorted, chunks))
    return list(heapq.merge(*parts))


def main(xs):
    return solve(xs)
