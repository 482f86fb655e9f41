"""A covering problem with a strict validator: the share of 300 fixed points covered by five disks of radius 0.2.

The validator fails a candidate that returns anything but exactly five finite centres inside the unit square.
"""

import importlib.util
import math
import random

DISKS, RADIUS, POINTS = 5, 0.2, 300


def _points():
    rng = random.Random(11)
    # Three clusters and a uniform background, so where the disks go matters.
    pts = []
    for cx, cy in ((0.2, 0.75), (0.7, 0.7), (0.6, 0.2)):
        pts += [(min(1, max(0, rng.gauss(cx, 0.1))), min(1, max(0, rng.gauss(cy, 0.1)))) for _ in range(70)]
    pts += [(rng.random(), rng.random()) for _ in range(POINTS - len(pts))]
    return pts


def evaluate(program_path):
    spec = importlib.util.spec_from_file_location("candidate_cover", program_path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    got = [(float(x), float(y)) for x, y in module.centers()]
    if len(got) != DISKS:
        raise ValueError(f"expected {DISKS} centres, got {len(got)}")
    for x, y in got:
        if not (math.isfinite(x) and math.isfinite(y) and 0 <= x <= 1 and 0 <= y <= 1):
            raise ValueError(f"centre ({x}, {y}) is not inside the unit square")
    covered = sum(1 for px, py in _points() if any(math.hypot(px - x, py - y) <= RADIUS for x, y in got))
    return {"combined_score": covered / POINTS, "covered": float(covered)}
