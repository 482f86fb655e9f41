# ruff: noqa
# parent: packing
# change: optimise a single shared radius with scipy
import math

from scipy.optimize import minimize_scalar


def pack(n):
    def loss(r):
        per_row = max(1, math.floor(1 / (2 * r))) if r > 0 else n
        rows = math.ceil(n / per_row)
        return -r if rows * 2 * r <= 1 else 1.0

    res = minimize_scalar(loss, bounds=(0.01, 0.5), method="bounded")
    r = max(res.x if -res.fun > 0 else 0.0, 0.5 / math.ceil(math.sqrt(n)))
    return [r] * n
