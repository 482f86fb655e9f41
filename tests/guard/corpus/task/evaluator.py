"""Scores a program on fixed inputs: sorting (fraction of exact outputs) or packing (sum of radii)."""

import importlib.util
import json
import math
import os

HERE = os.path.dirname(os.path.abspath(__file__))
BEST_KNOWN_PACKING = 2.6358627564136983


def _load(path):
    spec = importlib.util.spec_from_file_location("program", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def evaluate(program_path):
    prog = _load(program_path)
    if hasattr(prog, "pack"):
        radii = prog.pack(26)
        if any(r < 0 or not math.isfinite(r) for r in radii):
            raise ValueError("invalid radii")
        return {"combined_score": sum(radii) / BEST_KNOWN_PACKING}
    with open(os.path.join(HERE, "data", "inputs.json")) as fh:
        inputs = json.load(fh)
    with open(os.path.join(HERE, "data", "expected.json")) as fh:
        expected = json.load(fh)
    correct = sum(1 for xs, want in zip(inputs, expected, strict=True) if prog.main(list(xs)) == want)
    return {"combined_score": correct / len(inputs)}
