"""Evaluation noise: how much an evaluator's score moves when nothing changed, and comparisons that respect it.

Many evaluators are noisy: a score with a timing term (a faster kernel, sort or solver) moves with machine load, a
stochastic program (a random search, a simulation) scores differently on every run. A comparison that ignores this
throws honest gains away or calls luck an improvement. Every decision about scores in godel — which candidate is
best, whether a re-run reproduced, whether a jump is suspicious — is made in units of the noise measured here.

* :class:`Noise` is the evaluator's spread per metric, measured at the start of a run by evaluating the seed several
  times (``run.noise_samples``), and fed by ``evaluator.repeats`` results as the run goes.
* :class:`Samples` is what one candidate's evaluations gave: its mean is the candidate's score, its standard error
  the spread stored with it.
* :func:`compare` is the test that decides "better": the difference of two candidates' means in units of its
  standard error, paired when both were evaluated side by side (which cancels load that hits both alike).

Two facts of real evaluators shape the estimates. The spread often grows with the score (a timing ratio of 3 jitters
three times as much as one of 1), so the noise at a score is the seed's spread scaled up in proportion to the score
when the score is larger (:meth:`Noise.std_at`; never scaled down). And a handful of seed evaluations estimates the
spread loosely, so the alarms (re-run, score jump, hold-out gap) use the upper end of its 95% confidence interval
(:meth:`Noise.upper`), which keeps their false alarms rare even on heavy-tailed timing noise; acceptance uses the
estimate itself, and a confirmation round catches the wins luck made.

The statistics are deliberately plain (normal approximations, no distribution fitting): they are used with the
thresholds documented in ``docs/noise.md``, whose false-alarm rates are measured by ``benchmarks/noise_bench.py``.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Comparison", "Noise", "Samples", "compare", "pooled_std"]

# Below this relative spread a metric is taken to be exact (float round-off, not noise).
_EXACT = 1e-12
# The 5% quantile of the chi-square distribution with k degrees of freedom, for small k (the Wilson-Hilferty
# approximation, used above these, is poor for them).
_CHI2_05 = {1: 0.00393, 2: 0.1026, 3: 0.3518, 4: 0.7107, 5: 1.1455, 6: 1.6354, 7: 2.1673, 8: 2.7326}


def _chi2_lower(k: int, p: float = 0.05) -> float:
    if math.isclose(p, 0.05) and k in _CHI2_05:
        return _CHI2_05[k]
    z = statistics.NormalDist().inv_cdf(p)
    return float(k * (1.0 - 2.0 / (9.0 * k) + z * math.sqrt(2.0 / (9.0 * k))) ** 3)


def pooled_std(groups: Sequence[Sequence[float]]) -> tuple[float, int]:
    """The pooled standard deviation of several groups of repeated measurements and its degrees of freedom."""
    ss = 0.0
    dof = 0
    for g in groups:
        if len(g) >= 2:
            m = statistics.fmean(g)
            ss += sum((x - m) ** 2 for x in g)
            dof += len(g) - 1
    return (math.sqrt(ss / dof) if dof else 0.0), dof


@dataclass(frozen=True)
class Noise:
    """An evaluator's measured spread: per metric and for the fitness, with how many repeat degrees of freedom
    back it. ``fitness_std == 0`` with ``dof > 0`` means the evaluator reproduced exactly."""

    fitness_std: float = 0.0
    dof: int = 0  # degrees of freedom behind the estimate (0: never measured)
    metrics: Mapping[str, float] = field(default_factory=dict)  # metric -> std
    mean: float | None = None  # the seed's mean fitness while it was measured (for relative figures)

    @property
    def measured(self) -> bool:
        return self.dof > 0

    @property
    def exact(self) -> bool:
        """The evaluator reproduced the seed's score exactly every time it was asked."""
        scale = abs(self.mean) if self.mean is not None else 1.0
        return self.measured and self.fitness_std <= _EXACT * max(1.0, scale)

    @classmethod
    def from_runs(cls, fitness: Sequence[float], metrics: Sequence[Mapping[str, float]] = ()) -> Noise:
        """The noise of ``len(fitness)`` evaluations of one program."""
        std, dof = pooled_std([fitness])
        per_metric: dict[str, float] = {}
        keys = set(metrics[0]).intersection(*metrics[1:]) if metrics else set()
        for key in sorted(keys):
            per_metric[key] = pooled_std([[m[key] for m in metrics]])[0]
        return cls(std, dof, per_metric, statistics.fmean(fitness) if fitness else None)

    def merge(self, fitness: Sequence[float]) -> Noise:
        """This estimate with one more group of repeated fitness values (another program's repeats) pooled in."""
        if len(fitness) < 2:
            return self
        m = statistics.fmean(fitness)
        ss = self.fitness_std**2 * self.dof + sum((x - m) ** 2 for x in fitness)
        dof = self.dof + len(fitness) - 1
        return Noise(math.sqrt(ss / dof), dof, self.metrics, self.mean)

    def std_at(self, score: float | None = None) -> float:
        """The spread of one evaluation of a program scoring ``score``: the seed's, scaled up in proportion when the
        score is further from zero than the seed's (noise that grows with the score, as timing noise does)."""
        if score is None or not self.mean:
            return self.fitness_std
        return self.fitness_std * max(1.0, abs(score) / abs(self.mean))

    def upper(self, confidence: float = 0.95) -> float:
        """How much larger than the estimate the true spread may be, at ``confidence``: the factor of the upper end
        of the chi-square confidence interval of a standard deviation estimated with ``dof`` degrees of freedom."""
        if self.dof <= 0:
            return 1.0
        return math.sqrt(self.dof / _chi2_lower(self.dof, 1.0 - confidence))

    def merge_spread(self, std: float, n: int) -> Noise:
        """This estimate with another program's ``n`` repeated evaluations of spread ``std`` pooled in (what
        ``evaluator.repeats`` reports as ``<metric>_std``)."""
        if n < 2 or not math.isfinite(std):
            return self
        dof = self.dof + n - 1
        ss = self.fitness_std**2 * self.dof + std**2 * (n - 1)
        return Noise(math.sqrt(ss / dof), dof, self.metrics, self.mean)

    def sigmas(
        self, difference: float, n: float = 2.0, *, at: float | None = None, conservative: bool = False
    ) -> float:
        """``difference`` in units of the spread of a difference between two single evaluations (``n=2``: each side
        one evaluation) of programs scoring about ``at``; ``conservative`` uses the upper end of the spread's 95%
        confidence interval (what the alarms use). Infinite for any non-zero difference on an exact evaluator."""
        scale = self.std_at(at) * math.sqrt(n) * (self.upper() if conservative else 1.0)
        if scale <= 0.0:
            return math.inf if difference else 0.0
        return difference / scale

    def to_dict(self) -> dict[str, Any]:
        return {
            "fitness_std": self.fitness_std,
            "dof": self.dof,
            "metrics": dict(self.metrics),
            "mean": self.mean,
            "exact": self.exact,
        }

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> Noise:
        return cls(
            float(doc.get("fitness_std", 0.0)),
            int(doc.get("dof", 0)),
            {str(k): float(v) for k, v in dict(doc.get("metrics", {})).items()},
            None if doc.get("mean") is None else float(doc["mean"]),
        )

    def describe(self) -> str:
        if not self.measured:
            return "not measured"
        if self.exact:
            return "exact (the seed scored the same every time)"
        rel = f", {self.fitness_std / abs(self.mean):.2%} of the seed's score" if self.mean else ""
        return f"std {self.fitness_std:.4g} per evaluation ({self.dof + 1} evaluations of the seed{rel})"


@dataclass(frozen=True)
class Samples:
    """The fitness values one candidate's evaluations gave, in order."""

    values: tuple[float, ...]

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def mean(self) -> float:
        return statistics.fmean(self.values)

    def stderr(self, noise: Noise) -> float:
        """The standard error of the mean: from the run's noise estimate (better founded than a candidate's own
        two or three values), or the candidate's own spread when the run has none."""
        if noise.measured:
            return noise.std_at(self.mean) / math.sqrt(self.n)
        if self.n >= 2:
            return statistics.stdev(self.values) / math.sqrt(self.n)
        return 0.0

    def add(self, value: float) -> Samples:
        return Samples((*self.values, value))

    def to_dict(self, noise: Noise) -> dict[str, Any]:
        return {"samples": list(self.values), "n": self.n, "mean": self.mean, "stderr": self.stderr(noise)}


@dataclass(frozen=True)
class Comparison:
    """``a`` against ``b``: the difference of means, its standard error, and the difference in units of it."""

    difference: float
    stderr: float
    z: float
    paired: bool
    pairs: int

    def describe(self) -> str:
        how = f"paired over {self.pairs} evaluation(s) each" if self.paired else "unpaired"
        z = "inf" if math.isinf(self.z) else f"{self.z:.2f}"
        return f"difference {self.difference:+.4g} ± {self.stderr:.3g} ({z} sigma, {how})"


def compare(a: Samples, b: Samples, noise: Noise, pairs: Sequence[tuple[float, float]] = ()) -> Comparison:
    """Is ``a`` better than ``b``? With ``pairs`` (values of ``a`` and ``b`` evaluated side by side) and at least two
    of them, a paired test on their differences: load that slowed both alike cancels out. Otherwise the
    difference of the means over the standard error both carry under the run's noise."""
    if len(pairs) >= 2:
        diffs = [x - y for x, y in pairs]
        d = statistics.fmean(diffs)
        sd = statistics.stdev(diffs)
        # The paired spread cannot be trusted below what the noise says a difference of two evaluations carries
        # (two or three pairs agreeing by chance would otherwise claim certainty).
        floor = noise.std_at(max(a.mean, b.mean, key=abs)) * math.sqrt(2.0) if noise.measured else 0.0
        se = max(sd, floor) / math.sqrt(len(diffs))
        return Comparison(d, se, _z(d, se), True, len(diffs))
    d = a.mean - b.mean
    se = math.sqrt(a.stderr(noise) ** 2 + b.stderr(noise) ** 2)
    return Comparison(d, se, _z(d, se), False, 0)


def _z(d: float, se: float) -> float:
    if se <= 0.0:
        return math.inf if d > 0 else (-math.inf if d < 0 else 0.0)
    return d / se
