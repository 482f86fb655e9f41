"""Pack 26 circles in the unit square so that the sum of their radii is as large as possible.

godel evolves the construction between the EVOLVE-BLOCK markers. The evaluator checks the packing strictly:
every circle inside the square, no two overlapping.
"""

import math

N = 26


# EVOLVE-BLOCK-START
def construct_packing():
    """Centres on a jittered grid, then the largest radii that keep the packing valid."""
    centers = []
    cols, rows = 6, 5
    for r in range(rows):
        for c in range(cols):
            if len(centers) == N:
                break
            x = (c + 0.5) / cols
            y = (r + 0.5) / rows
            centers.append((x, y))
    radii = compute_max_radii(centers)
    return centers, radii


def compute_max_radii(centers):
    """Shrink radii until no circle crosses a wall or another circle."""
    radii = [min(x, y, 1 - x, 1 - y) for x, y in centers]
    for i in range(len(centers)):
        for j in range(i + 1, len(centers)):
            d = math.dist(centers[i], centers[j])
            if radii[i] + radii[j] > d:
                scale = d / (radii[i] + radii[j])
                radii[i] *= scale
                radii[j] *= scale
    return radii
# EVOLVE-BLOCK-END


def run_packing():
    centers, radii = construct_packing()
    return centers, radii, sum(radii)
