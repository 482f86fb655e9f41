"""Symbolic regression on fixed data: the score is 1 / (1 + mean squared error) over 60 fixed points.

The points come from 1.7 sin(0.8 x) + 0.3 x^2 - 0.5 on [-3, 3] with fixed Gaussian noise (sd 0.05), so the best
reachable score is just below 1. A non-finite prediction fails the candidate.
"""

import importlib.util
import math
import random


def _data():
    rng = random.Random(7)
    xs = [-3 + 6 * i / 59 for i in range(60)]
    return [(x, 1.7 * math.sin(0.8 * x) + 0.3 * x * x - 0.5 + rng.gauss(0, 0.05)) for x in xs]


def evaluate(program_path):
    spec = importlib.util.spec_from_file_location("candidate_model", program_path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    errors = []
    for x, y in _data():
        got = float(module.model(x))
        if not math.isfinite(got):
            raise ValueError(f"model({x:.3f}) is not finite: {got!r}")
        errors.append((got - y) ** 2)
    mse = sum(errors) / len(errors)
    return {"combined_score": 1.0 / (1.0 + mse), "mse": mse}
