"""Function minimization example: find the global minimum of a bumpy 2-D function."""

import numpy as np


# EVOLVE-BLOCK-START
def search_algorithm(iterations=500, bounds=(-5, 5)):
    """
    A simple random search that keeps the best point it has seen.

    Args:
        iterations: Number of points to try
        bounds: Search box (min, max) for both coordinates

    Returns:
        Tuple of (best_x, best_y, best_value)
    """
    rng = np.random.default_rng(42)
    best_x, best_y = rng.uniform(bounds[0], bounds[1], size=2)
    best_value = evaluate_function(best_x, best_y)

    for _ in range(iterations):
        x, y = rng.uniform(bounds[0], bounds[1], size=2)
        value = evaluate_function(x, y)
        if value < best_value:
            best_x, best_y, best_value = x, y, value

    return best_x, best_y, best_value


# EVOLVE-BLOCK-END


# This part remains fixed (not evolved)
def evaluate_function(x, y):
    """The bumpy function to minimize."""
    return np.sin(x) * np.cos(y) + np.sin(x * y) + (x**2 + y**2) / 20


def run_search():
    x, y, value = search_algorithm()
    return x, y, value


if __name__ == "__main__":
    x, y, value = run_search()
    print(f"Found minimum at ({x}, {y}) with value {value}")
