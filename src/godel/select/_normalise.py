"""Score normalisation shared by the weighted selectors (DGM, fitness-proportional).

Two kinds:

* ``raw``: ``x = score``. Used with ``normalize="none"``, and with ``normalize="auto"`` while every eligible score
  lies in [0, 1] (the DGM setting, where ``alpha = 0.5`` is the midpoint of the scale).
* ``mad``: a robust z-score ``z = (score - median) / (1.4826 * MAD)`` squashed into (0, 1) by
  ``x = sigmoid(1.702 * z)``, the logistic approximation of the normal CDF. ``x`` estimates the score's quantile
  (the median maps to 0.5, one robust standard deviation above it to about 0.85), so it plays the role a raw
  score in [0, 1] plays for DGM and ``alpha`` keeps its meaning. Because ``x`` is bounded, one outlier cannot take
  all the probability mass and no candidate is pushed to an underflowing weight: DGM's ``s`` stays in
  ``[sigmoid(-lambda * alpha), sigmoid(lambda * (1 - alpha))]``, exactly the range it has on raw [0, 1] scores.
  Used with ``normalize="mad"``, and with ``"auto"`` from the first eligible score outside [0, 1] on.

Median and MAD are refitted lazily (an exact refit costs O(n)): after a refit over ``n`` eligible scores the next one
happens once ``lag(n) = max(1, min(n // 32, 16384))`` more eligible candidates have arrived. So up to 63 eligible
candidates the statistics are always exact; beyond that they lag by at most ``n/32`` and never more than 16,384
candidates. Refits are triggered by observation counts only, so the lag is deterministic: the same observations
give the same weights. A refit over a million scores takes ~60-120 ms on one core (two partitions, one pass of
tanh, the sum tree), i.e. under 10 us per observation once amortised over 16,384 observations.

When MAD is 0 (more than half the scores equal the median) the scale falls back to ``1.2533 * mean |score -
median|`` (the mean absolute deviation, scaled to match a normal's standard deviation); when every score is equal
it falls back to ``|median|`` (or 1 when the median is 0) until the next refit.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import numpy.typing as npt

__all__ = ["MAX_LAG", "Normaliser", "sigmoid", "sigmoid_array"]

MAX_LAG = 16384
_LAG_FRACTION = 32
_PROBIT_LOGIT = 1.702  # sigmoid(1.702 z) approximates the normal CDF within 0.01
_MAD_TO_SIGMA = 1.4826
_MEAN_AD_TO_SIGMA = 1.2533  # sqrt(pi / 2)
_PRESCALE_ABOVE = 1e150  # beyond this, differences of scores could overflow: compute in units of max |score|


def sigmoid(t: float) -> float:
    if t >= 0:
        return 1.0 / (1.0 + math.exp(-t))
    e = math.exp(t)
    return e / (1.0 + e)


def sigmoid_array(t: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """``sigmoid(t)`` as ``(1 + tanh(t / 2)) / 2``: one transcendental, no overflow for any t (including +-inf).
    Values below ~1e-16 lose relative precision, which no weight here depends on (weights are floored at 1e-9)."""
    out: npt.NDArray[np.float64] = np.multiply(t, 0.5)
    np.tanh(out, out=out)
    out *= 0.5
    out += 0.5
    return out


def _median(a: npt.NDArray[np.float64]) -> float:
    """Median of ``a``, reordering ``a`` in place (a partition is about twice as fast as np.median's copy)."""
    n = int(a.shape[0])
    k = n // 2
    if n % 2:
        a.partition(k)
        return float(a[k])
    a.partition((k - 1, k))
    return float((a[k - 1] + a[k]) / 2)


def lag(n: int) -> int:
    return max(1, min(n // _LAG_FRACTION, MAX_LAG))


class Normaliser:
    __slots__ = ("_next_refit", "hi", "kind", "lo", "median", "mode", "prescale", "scale")

    def __init__(self, mode: Literal["auto", "none", "mad"]) -> None:
        self.mode = mode
        self.kind: Literal["raw", "mad"] = "mad" if mode == "mad" else "raw"
        self.lo = math.inf
        self.hi = -math.inf
        self.median = 0.0
        self.scale = 1.0
        self.prescale = 1.0
        self._next_refit = 1

    @property
    def bounded(self) -> bool:
        """Whether every ``x`` lies in [0, 1] (true unless raw scores leave [0, 1] under ``normalize="none"``)."""
        return self.kind == "mad" or (self.lo >= 0.0 and self.hi <= 1.0)

    def note(self, score: float) -> bool:
        """Account for a new eligible score; True when the normalisation must be refitted right now."""
        self.lo = min(self.lo, score)
        self.hi = max(self.hi, score)
        if self.kind == "raw" and self.mode == "auto" and not (0.0 <= score <= 1.0):
            self.kind = "mad"  # once a score leaves [0, 1] it stays in the eligible set: the switch is final
            return True
        return False

    def due(self, n: int) -> bool:
        """Whether ``n`` eligible scores call for a refit (always false for raw scores, which need none)."""
        return self.kind == "mad" and n >= self._next_refit

    def refit(self, scores: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """Refit on every eligible score (``scores`` is not modified) and return their ``x`` values."""
        n = int(scores.shape[0])
        self._next_refit = n + lag(n)
        if self.kind != "mad" or n == 0:
            return self.xs(scores)
        big = max(abs(self.lo), abs(self.hi))
        self.prescale = big if big > _PRESCALE_ABOVE else 1.0
        dev = scores / self.prescale  # a copy: the in-place median reorders it, which the MAD does not mind
        med = _median(dev)
        dev -= med
        np.abs(dev, out=dev)
        scale = _MAD_TO_SIGMA * _median(dev)
        if not scale > 0.0:
            scale = _MEAN_AD_TO_SIGMA * float(dev.mean())
        if not scale > 0.0:
            scale = abs(med) if med != 0.0 else 1.0
        self.median = med
        self.scale = scale
        return self.xs(scores)

    def x(self, score: float) -> float:
        if self.kind == "raw":
            return score
        z = (score / self.prescale - self.median) / self.scale
        return sigmoid(_PROBIT_LOGIT * z)

    def xs(self, scores: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        if self.kind == "raw":
            return scores
        with np.errstate(over="ignore"):  # z may overflow to +-inf: sigmoid maps that to 1 or 0
            t = _PROBIT_LOGIT * ((scores / self.prescale - self.median) / self.scale)
        return sigmoid_array(t)
