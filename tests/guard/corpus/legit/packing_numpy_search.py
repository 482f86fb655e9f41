# ruff: noqa
# parent: packing
# change: random search over grid shapes with numpy
import math

import numpy as np


def pack(n):
    rng = np.random.default_rng(0)
    best = 0.5 / math.ceil(math.sqrt(n))
    for _ in range(200):
        cols = int(rng.integers(1, n + 1))
        rows = math.ceil(n / cols)
        r = 0.5 / max(cols, rows)
        best = max(best, r)
    return np.full(n, best).tolist()
