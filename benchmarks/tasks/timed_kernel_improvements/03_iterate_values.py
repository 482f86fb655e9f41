"""Sum of squares of a list of floats, written slowly on purpose: the task's score is its speed."""

# EVOLVE-BLOCK-START
def kernel(xs):
    total = 0.0
    for x in xs:
        total += x * x
    return total


# EVOLVE-BLOCK-END
