"""Sort a list of integers; the self-tests at the bottom run under pytest as part of the evaluation."""


# EVOLVE-BLOCK-START
def solve(xs):
    out = list(xs)
    for i in range(1, len(out)):
        if out[i - 1] > out[i]:
            out[i - 1], out[i] = out[i], out[i - 1]
    return out


# EVOLVE-BLOCK-END


def main(xs):
    return solve(xs)


def test_sorts_small():
    assert solve([3, 1, 2]) == [1, 2, 3]
    assert solve([]) == []


def test_keeps_duplicates():
    assert solve([2, 2, 1]) == [1, 2, 2]
