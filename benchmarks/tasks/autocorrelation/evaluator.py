"""An inequality-bound construction: the first autocorrelation inequality for step functions.

For f >= 0 on [-1/4, 1/4] with integral 1, max (f * f) >= C; the best constructions known give C ~ 1.503, the
constant function gives 2. The candidate returns the heights of equal steps; the evaluator normalises them to
integral 1 and computes the autoconvolution's maximum exactly (it is piecewise linear, so its maximum is at a
multiple of the step width). Score: 1.5 / max (f * f), so the constant function scores 0.75. Negative, non-finite,
all-zero or more than 200 heights fail the candidate.
"""

import importlib.util
import math


def evaluate(program_path):
    spec = importlib.util.spec_from_file_location("candidate_steps", program_path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    h = [float(v) for v in module.heights()]
    if not 1 <= len(h) <= 200:
        raise ValueError(f"between 1 and 200 heights, got {len(h)}")
    if any(not math.isfinite(v) or v < 0 for v in h) or sum(h) <= 0:
        raise ValueError("heights must be finite, non-negative and not all zero")
    n = len(h)
    width = 0.5 / n
    scale = 1.0 / (sum(h) * width)  # integral 1
    f = [v * scale for v in h]
    # (f * f) at the breakpoint k * width is width * sum_{i + j = k - 1} f_i f_j.
    peak = max(width * sum(f[i] * f[k - i] for i in range(max(0, k - n + 1), min(k, n - 1) + 1)) for k in range(2 * n - 1))
    return {"combined_score": 1.5 / peak, "peak": peak}
