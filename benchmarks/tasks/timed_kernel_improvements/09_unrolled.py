"""Sum of squares of a list of floats, written slowly on purpose: the task's score is its speed."""

# EVOLVE-BLOCK-START
def kernel(xs):
    total = 0.0
    n = len(xs) - len(xs) % 2
    for i in range(0, n, 2):
        a = xs[i]
        b = xs[i + 1]
        total += a * a + b * b
    for v in xs[n:]:
        total += v * v
    return total


# EVOLVE-BLOCK-END
