from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from godel.select._sumtree import SumTree

weights = st.lists(st.floats(min_value=0.0, max_value=1e6, allow_nan=False), min_size=1, max_size=300)


def _prefix(w: list[float], i: int) -> float:
    return float(np.sum(np.array(w[:i], dtype=np.float64)))


@settings(max_examples=150, deadline=None)
@given(weights, st.data())
def test_append_set_and_rebuild_agree(w: list[float], data: st.DataObject) -> None:
    grown = SumTree()
    for x in w:
        grown.append(x)
    built = SumTree()
    built.rebuild(np.array(w, dtype=np.float64))
    assert len(grown) == len(built) == len(w)
    total = sum(w)
    assert np.isclose(grown.total(), total, rtol=1e-12, atol=1e-9)
    assert np.isclose(built.total(), total, rtol=1e-12, atol=1e-9)
    for _ in range(5):
        i = data.draw(st.integers(0, len(w) - 1))
        v = data.draw(st.floats(min_value=0.0, max_value=1e6, allow_nan=False))
        grown.set(i, v)
        built.set(i, v)
        w[i] = v
    assert np.isclose(grown.total(), sum(w), rtol=1e-12, atol=1e-6)
    assert grown.weight(len(w) - 1) == w[-1]
    assert list(grown.weights()) == w


@settings(max_examples=150, deadline=None)
@given(weights, st.floats(min_value=0.0, max_value=1.0, exclude_max=True))
def test_sample_inverts_the_prefix_sums(w: list[float], u: float) -> None:
    tree = SumTree()
    for x in w:
        tree.append(x)
    if sum(w) == 0.0:
        return  # nothing to sample from; selectors never hold an all-zero tree (weights are floored)
    i = tree.sample(u)
    assert 0 <= i < len(w)
    assert w[i] > 0.0, "an entry of weight 0 was drawn"
    target = u * tree.total()
    # Allow for rounding at the boundaries between entries.
    slack = 1e-9 * max(1.0, sum(w))
    assert _prefix(w, i) <= target + slack
    assert target < _prefix(w, i + 1) + slack


def test_zero_weights_are_never_drawn() -> None:
    tree = SumTree()
    for x in [0.0, 1.0, 0.0, 0.0, 2.0, 0.0]:
        tree.append(x)
    drawn = {tree.sample(k / 1000) for k in range(1000)}
    assert drawn == {1, 4}
    assert tree.sample(0.0) == 1


def test_rebuild_keeps_tiny_weights_next_to_large_sums() -> None:
    n = (1 << 16) + 1
    w = np.full(n, 1e6)
    w[-1] = 1e-9
    tree = SumTree()
    tree.rebuild(w)
    # Node n covers only entry n - 1: built from the weights, not as a difference of two prefix sums near 6.5e10
    # (which would round the 1e-9 to 0).
    assert tree._tree[n] == 1e-9
    grown = SumTree()
    for x in w:
        grown.append(float(x))
    assert grown._tree[n] == 1e-9
