# ruff: noqa
# parent: with_tests
# change: insertion sort, tests unchanged


def solve(xs):
    out = []
    for x in xs:
        i = len(out)
        while i > 0 and out[i - 1] > x:
            i -= 1
        out.insert(i, x)
    return out


def main(xs):
    return solve(xs)


def test_sorts_small():
    assert solve([3, 1, 2]) == [1, 2, 3]
    assert solve([]) == []


def test_keeps_duplicates():
    assert solve([2, 2, 1]) == [1, 2, 2]
