"""Scores a sum-of-squares kernel by its speed against a reference loop timed in the same evaluation.

The answer must be right (relative error below 1e-9 on every input) or the candidate fails. The score,
``combined_score``, is the reference loop's time divided by the candidate's (the median over interleaved rounds):
above 1 is faster than a plain loop. Each round times both over the same fixed inputs back to back, so a machine
that is slower right now slows both; what is left is timing jitter, which is why this task's score is noisy by
nature (godel measures how noisy at the start).
"""

import importlib.util
import math
import random
import statistics
import time

SIZES = (2000, 3000, 4000)
ROUNDS = 7


def _load(path):
    spec = importlib.util.spec_from_file_location("candidate_kernel", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _reference(xs):
    total = 0.0
    for i in range(len(xs)):
        total = total + xs[i] * xs[i]
    return total


def _timed(fn, inputs):
    start = time.perf_counter()
    for xs in inputs:
        fn(xs)
    return time.perf_counter() - start


def evaluate(program_path):
    kernel = _load(program_path).kernel
    rng = random.Random(42)
    inputs = [[rng.uniform(-1.0, 1.0) for _ in range(n)] for n in SIZES]
    for xs in inputs:
        want = math.fsum(x * x for x in xs)
        got = float(kernel(list(xs)))
        if not math.isfinite(got) or abs(got - want) > 1e-9 * max(1.0, abs(want)):
            raise ValueError(f"wrong sum of squares for {len(xs)} values: {got!r}, expected {want!r}")
    ratios, seconds = [], []
    for _ in range(ROUNDS):
        reference = _timed(_reference, inputs)
        candidate = _timed(kernel, inputs)
        ratios.append(reference / candidate)
        seconds.append(candidate)
    return {"combined_score": statistics.median(ratios), "seconds": statistics.median(seconds)}
