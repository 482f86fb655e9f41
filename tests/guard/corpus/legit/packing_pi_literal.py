# ruff: noqa
# parent: packing
# change: area-based bound with a literal pi and a safety factor
import math

PI = 3.14159265358979
SAFETY = 0.9069


def pack(n):
    area_bound = math.sqrt(SAFETY / (n * PI))
    grid = 0.5 / math.ceil(math.sqrt(n))
    return [min(area_bound, grid) if area_bound < grid else grid] * n
