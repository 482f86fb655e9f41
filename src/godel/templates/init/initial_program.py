"""Your program. godel changes only what lies between the EVOLVE-BLOCK markers."""


# EVOLVE-BLOCK-START
def solve(xs):
    """Return a permutation of xs that is as close to sorted as you can make it."""
    out = list(xs)
    for i in range(len(out) - 1):
        if out[i] > out[i + 1]:
            out[i], out[i + 1] = out[i + 1], out[i]
    return out
# EVOLVE-BLOCK-END


def main(xs):
    return solve(xs)
