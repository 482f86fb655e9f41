"""Scores a minimiser by how close it gets to the known global minimum, over several seeded trials.

Trials are seeded so a program's score is reproducible: the same code always gets the same score. The number of
objective calls is capped; going over it is a failure, so "search longer" is not free.
"""

import importlib.util
import math
import random

GLOBAL_X, GLOBAL_Y, GLOBAL_VALUE = -1.704104, 0.678395, -1.518712
TRIALS = 10
MAX_CALLS = 2000


def _load(program_path):
    spec = importlib.util.spec_from_file_location("candidate_program", program_path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def evaluate(program_path):
    module = _load(program_path)
    calls = 0
    original = module.evaluate_function

    def counted(x, y):
        nonlocal calls
        calls += 1
        if calls > MAX_CALLS:
            raise RuntimeError(f"more than {MAX_CALLS} objective calls in one trial")
        return original(x, y)

    module.evaluate_function = counted
    values, distances, total_calls = [], [], 0
    for trial in range(TRIALS):
        random.seed(1000 + trial)
        calls = 0
        x, y, _claimed = module.run_search()
        x, y = float(x), float(y)
        if not (math.isfinite(x) and math.isfinite(y)):
            raise ValueError(f"trial {trial}: non-finite point ({x}, {y})")
        # Score the returned point ourselves: a program cannot claim a value it did not reach.
        values.append(original(x, y))
        distances.append(math.hypot(x - GLOBAL_X, y - GLOBAL_Y))
        total_calls += calls
    mean_value = sum(values) / TRIALS
    mean_distance = sum(distances) / TRIALS
    value_score = 1.0 / (1.0 + abs(mean_value - GLOBAL_VALUE))
    distance_score = 1.0 / (1.0 + mean_distance)
    reliability = sum(1 for d in distances if d < 0.5) / TRIALS
    return {
        "value_score": value_score,
        "distance_score": distance_score,
        "reliability": reliability,
        "mean_calls": total_calls / TRIALS,
        "combined_score": 0.5 * value_score + 0.3 * distance_score + 0.2 * reliability,
    }
