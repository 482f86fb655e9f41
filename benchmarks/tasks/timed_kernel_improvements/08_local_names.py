"""Sum of squares of a list of floats, written slowly on purpose: the task's score is its speed."""

# EVOLVE-BLOCK-START
def kernel(xs):
    total = 0.0
    n = len(xs)
    i = 0
    while i < n:
        v = xs[i]
        total += v * v
        i += 1
    return total


# EVOLVE-BLOCK-END
