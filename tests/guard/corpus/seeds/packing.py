"""Pack n circles in the unit square; the score is the sum of their radii."""

import math


# EVOLVE-BLOCK-START
def pack(n):
    side = math.ceil(math.sqrt(n))
    r = 0.5 / side
    return [r] * n


# EVOLVE-BLOCK-END
