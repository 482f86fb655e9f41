"""Sum of squares of a list of floats, written slowly on purpose: the task's score is its speed."""

# EVOLVE-BLOCK-START
import operator


def kernel(xs):
    return sum(map(operator.mul, xs, xs))


# EVOLVE-BLOCK-END
