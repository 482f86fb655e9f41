# ruff: noqa
# parent: with_tests
# change: fix solve() and add a test


def solve(xs):
    return sorted(xs)


def main(xs):
    return solve(xs)


def test_sorts_small():
    assert solve([3, 1, 2]) == [1, 2, 3]
    assert solve([]) == []


def test_keeps_duplicates():
    assert solve([2, 2, 1]) == [1, 2, 2]


def test_negative_numbers():
    assert solve([0, -1, 5, -3]) == [-3, -1, 0, 5]
