"""Evaluator: godel calls evaluate(program_path) and reads `combined_score` (higher is better).

Raise an exception (or return {"error": "..."}) when the program is wrong: godel records the candidate as failed with
that reason instead of giving it a score.
"""

import importlib.util
import random


def _load(program_path):
    spec = importlib.util.spec_from_file_location("program", program_path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def evaluate(program_path):
    program = _load(program_path)
    rng = random.Random(0)
    sortedness = []
    for _ in range(20):
        xs = [rng.randint(0, 100) for _ in range(30)]
        out = program.main(list(xs))
        if sorted(out) != sorted(xs):
            raise ValueError("the output is not a permutation of the input")
        in_order = sum(1 for a, b in zip(out, out[1:]) if a <= b)
        sortedness.append(in_order / (len(out) - 1))
    return {"combined_score": sum(sortedness) / len(sortedness)}
