"""A model of the fixed data set the evaluator holds: the shape is right, the constants are not."""

import math

# EVOLVE-BLOCK-START
AMPLITUDE = 1.0
FREQUENCY = 1.0
CURVATURE = 0.1
OFFSET = 0.1


def model(x):
    return AMPLITUDE * math.sin(FREQUENCY * x) + CURVATURE * x * x - OFFSET


# EVOLVE-BLOCK-END
