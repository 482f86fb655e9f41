"""Sum of squares of a list of floats, written slowly on purpose: the task's score is its speed."""

# EVOLVE-BLOCK-START
PASSES = 3  # the sum is computed this many times; only the last one is kept
STEP = 1


def kernel(xs):
    total = 0.0
    for _ in range(PASSES):
        total = 0.0
        for i in range(0, len(xs), STEP):
            total = total + xs[i] * xs[i]
    return total


# EVOLVE-BLOCK-END
