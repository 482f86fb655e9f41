"""Constructor-based circle packing for n=26 circles in the unit square"""

import numpy as np


# EVOLVE-BLOCK-START
def construct_packing():
    """
    Place 26 circles in the unit square: a 5x5 grid plus one circle in a gap,
    then grow every radius as far as the square and the neighbours allow.

    Returns:
        Tuple of (centers, radii, sum_of_radii)
        centers: np.array of shape (26, 2) with (x, y) coordinates
        radii: np.array of shape (26) with the radius of each circle
        sum_of_radii: Sum of all radii
    """
    n = 26
    centers = np.zeros((n, 2))
    k = 0
    for i in range(5):
        for j in range(5):
            centers[k] = [0.1 + 0.2 * i, 0.1 + 0.2 * j]
            k += 1
    centers[25] = [0.2, 0.2]

    radii = compute_max_radii(centers)
    return centers, radii, float(np.sum(radii))


def compute_max_radii(centers):
    """
    The largest radii such that no circle leaves the square and no two overlap.

    Args:
        centers: np.array of shape (n, 2)

    Returns:
        np.array of shape (n) with a radius for each circle
    """
    n = centers.shape[0]
    radii = np.min(np.stack([centers[:, 0], centers[:, 1], 1 - centers[:, 0], 1 - centers[:, 1]]), axis=0)
    for i in range(n):
        for j in range(i + 1, n):
            dist = np.sqrt(np.sum((centers[i] - centers[j]) ** 2))
            if radii[i] + radii[j] > dist:
                scale = dist / (radii[i] + radii[j])
                radii[i] *= scale
                radii[j] *= scale
    return radii


# EVOLVE-BLOCK-END


# This part remains fixed (not evolved)
def run_packing():
    """Run the circle packing constructor for n=26"""
    centers, radii, sum_radii = construct_packing()
    return centers, radii, sum_radii


if __name__ == "__main__":
    centers, radii, sum_radii = run_packing()
    print(f"Sum of radii: {sum_radii}")
