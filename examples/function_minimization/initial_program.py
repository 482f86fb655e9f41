"""Find the global minimum of a bumpy two-dimensional function.

godel evolves the search between the EVOLVE-BLOCK markers; the function and the entry point stay fixed.
"""

import math
import random

# EVOLVE-BLOCK-START
def search_algorithm(iterations=60, bounds=(-5.0, 5.0)):
    """A plain random search: sample points uniformly and keep the best one."""
    best_x = random.uniform(bounds[0], bounds[1])
    best_y = random.uniform(bounds[0], bounds[1])
    best_value = evaluate_function(best_x, best_y)
    for _ in range(iterations):
        x = random.uniform(bounds[0], bounds[1])
        y = random.uniform(bounds[0], bounds[1])
        value = evaluate_function(x, y)
        if value < best_value:
            best_x, best_y, best_value = x, y, value
    return best_x, best_y, best_value
# EVOLVE-BLOCK-END


def evaluate_function(x, y):
    """The objective: global minimum about -1.5187 at (-1.7041, 0.6784)."""
    return math.sin(x) * math.cos(y) + math.sin(x * y) + (x**2 + y**2) / 20


def run_search():
    x, y, value = search_algorithm()
    return x, y, value
