"""Strict validation of a packing of 26 circles in the unit square; fitness is the sum of radii.

An invalid packing (wrong count, a circle outside the square, two circles overlapping, a negative or non-finite
number) is an error, so it is recorded as a failed candidate with the reason, never as a low score.
The best known sum for n=26 is about 2.635 (AlphaEvolve); combined_score is sum / 2.635.
"""

import importlib.util
import math

N = 26
BEST_KNOWN = 2.635
TOL = 1e-9  # geometric slack for floating point; far below any real overlap


def _load(program_path):
    spec = importlib.util.spec_from_file_location("candidate_program", program_path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def validate(centers, radii):
    if len(centers) != N or len(radii) != N:
        raise ValueError(f"expected {N} circles, got {len(centers)} centres and {len(radii)} radii")
    pts = []
    for i, ((x, y), r) in enumerate(zip(centers, radii)):
        x, y, r = float(x), float(y), float(r)
        if not all(math.isfinite(v) for v in (x, y, r)):
            raise ValueError(f"circle {i}: non-finite value")
        if r < 0:
            raise ValueError(f"circle {i}: negative radius {r}")
        if x - r < -TOL or y - r < -TOL or x + r > 1 + TOL or y + r > 1 + TOL:
            raise ValueError(f"circle {i} at ({x:.6f}, {y:.6f}) r={r:.6f} leaves the unit square")
        pts.append((x, y, r))
    for i in range(N):
        for j in range(i + 1, N):
            xi, yi, ri = pts[i]
            xj, yj, rj = pts[j]
            gap = math.hypot(xi - xj, yi - yj) - (ri + rj)
            if gap < -TOL:
                raise ValueError(f"circles {i} and {j} overlap by {-gap:.3g}")
    return sum(p[2] for p in pts)


def evaluate(program_path):
    module = _load(program_path)
    centers, radii, _claimed = module.run_packing()
    # Recompute the sum from the validated circles; the program's own claim is ignored.
    total = validate(list(centers), list(radii))
    return {"sum_radii": total, "combined_score": total / BEST_KNOWN}
