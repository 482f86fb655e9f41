# ruff: noqa
# parent: packing
# change: hexagonal rows instead of a square grid
import itertools
import math


def pack(n):
    best = 0.0
    for cols in range(1, n + 1):
        rows = math.ceil(n / cols)
        r = min(0.5 / cols, 1.0 / (2 + (rows - 1) * math.sqrt(3)))
        best = max(best, r)
    radii = [best for _ in itertools.repeat(None, n)]
    return radii
