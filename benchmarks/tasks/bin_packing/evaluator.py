"""Online bin packing scored against the lower bound: sum of sizes / capacity, over four fixed item streams.

Items arrive one at a time; each goes into the open bin of highest ``priority`` among those it fits in, or a new bin
when the best priority is below zero or no bin fits. Score: the mean over the streams of lower bound / bins used
(1 would be perfect packing). A non-finite priority fails the candidate.
"""

import importlib.util
import math
import random

CAPACITY = 100


def _streams():
    rng = random.Random(5)
    return [[rng.randint(20, 70) for _ in range(120)] for _ in range(4)]


def evaluate(program_path):
    spec = importlib.util.spec_from_file_location("candidate_packing", program_path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    ratios = []
    for items in _streams():
        bins = []
        for item in items:
            best, where = -math.inf, None
            for b, free in enumerate(bins):
                if free >= item:
                    p = float(module.priority(item, free, CAPACITY))
                    if not math.isfinite(p):
                        raise ValueError(f"priority({item}, {free}, {CAPACITY}) is not finite: {p!r}")
                    if p > best:
                        best, where = p, b
            if where is None or best < 0:
                bins.append(CAPACITY - item)
            else:
                bins[where] -= item
        ratios.append(math.ceil(sum(items) / CAPACITY) / len(bins))
    return {"combined_score": sum(ratios) / len(ratios)}
