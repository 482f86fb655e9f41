"""The noise statistics every score comparison uses."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from godel.noise import Noise, Samples, compare, pooled_std


def test_noise_of_repeated_evaluations() -> None:
    n = Noise.from_runs([1.0, 1.2, 0.8, 1.0], [{"a": 1.0}, {"a": 2.0}, {"a": 3.0}, {"a": 2.0}])
    assert math.isclose(n.fitness_std, math.sqrt(0.08 / 3))
    assert n.dof == 3 and n.measured and not n.exact
    assert math.isclose(n.metrics["a"], math.sqrt(2 / 3))
    assert math.isclose(n.sigmas(n.fitness_std * math.sqrt(2)), 1.0)
    assert "std" in n.describe() and "4 evaluations" in n.describe()


def test_an_exact_evaluator() -> None:
    n = Noise.from_runs([0.5, 0.5, 0.5])
    assert n.exact and n.sigmas(1e-9) == math.inf and n.sigmas(0.0) == 0.0
    assert "exact" in n.describe()
    assert not Noise().measured and Noise().describe() == "not measured"


def test_merge_pools_another_programs_repeats() -> None:
    n = Noise.from_runs([0.0, 2.0]).merge([10.0, 12.0])
    assert n.dof == 2 and math.isclose(n.fitness_std, math.sqrt(2.0))
    assert pooled_std([[0.0, 2.0], [10.0, 12.0], [5.0]]) == (math.sqrt(2.0), 2)


def test_round_trip() -> None:
    n = Noise.from_runs([1.0, 1.1, 0.9], [{"x": 1.0}, {"x": 1.5}, {"x": 2.0}])
    assert Noise.from_dict(n.to_dict()) == n


def test_unpaired_comparison_uses_the_runs_noise() -> None:
    noise = Noise(0.1, 5)
    c = compare(Samples((1.3,)), Samples((1.0, 1.0, 1.0, 1.0)), noise)
    assert not c.paired and math.isclose(c.stderr, math.sqrt(0.01 + 0.01 / 4))
    assert math.isclose(c.z, 0.3 / c.stderr)


def test_paired_comparison_cancels_shared_load() -> None:
    # Both sides slowed alike by load: paired, the constant gain shows; unpaired, the load swamps it.
    rng = random.Random(1)
    loads = [rng.gauss(0, 1.0) for _ in range(6)]
    pairs = [(2.0 + x + rng.gauss(0, 0.01), 1.9 + x + rng.gauss(0, 0.01)) for x in loads]
    a, b = Samples(tuple(p[0] for p in pairs)), Samples(tuple(p[1] for p in pairs))
    noise = Noise(0.01, 3)
    assert compare(a, b, noise, pairs).z > 5
    assert compare(a, b, Noise(1.0, 3)).z < 1


def test_paired_spread_is_floored_by_the_noise() -> None:
    # Two pairs that happen to agree exactly do not make a certainty out of a noisy evaluator.
    c = compare(Samples((1.1, 1.1)), Samples((1.0, 1.0)), Noise(0.5, 10), [(1.1, 1.0), (1.1, 1.0)])
    assert math.isclose(c.stderr, 0.5 * math.sqrt(2) / math.sqrt(2)) and c.z < 1


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(-1e6, 1e6), min_size=2, max_size=20))
def test_noise_of_any_values_is_finite_and_non_negative(values: list[float]) -> None:
    n = Noise.from_runs(values)
    assert math.isfinite(n.fitness_std) and n.fitness_std >= 0 and n.dof == len(values) - 1


def test_false_acceptance_rate_at_two_sigma_is_about_two_percent() -> None:
    # Honest near-ties: the child is no better, the evaluator has std 1. At 2 sigma, about 2.3% win by luck.
    rng = random.Random(7)
    noise = Noise(1.0, 10)
    wins = sum(
        compare(Samples((rng.gauss(0, 1),)), Samples((rng.gauss(0, 1), rng.gauss(0, 1))), noise).z >= 2.0
        for _ in range(20_000)
    )
    assert 0.015 < wins / 20_000 < 0.032


def test_noise_grows_with_the_score_never_shrinks() -> None:
    n = Noise(0.01, 4, mean=0.5)
    assert n.std_at(1.5) == pytest.approx(0.03) and n.std_at(0.1) == 0.01 and n.std_at(None) == 0.01


def test_the_upper_bound_of_a_small_sample_spread() -> None:
    # sqrt(dof / chi2_0.05(dof)): 2.37 for 4 degrees of freedom, towards 1 as they grow.
    assert Noise(1.0, 4).upper() == pytest.approx(2.372, abs=1e-3)
    assert 1.0 < Noise(1.0, 200).upper() < 1.15
    assert Noise(1.0, 4).sigmas(10.0, conservative=True) < Noise(1.0, 4).sigmas(10.0)


def test_repeats_of_other_programs_pool_into_the_estimate() -> None:
    n = Noise.from_runs([1.0, 1.2, 0.8]).merge_spread(0.2, 3)
    assert n.dof == 4 and n.fitness_std == pytest.approx(0.2)
    assert Noise().merge_spread(0.5, 1) == Noise() and Noise().merge_spread(0.5, 4).dof == 3
