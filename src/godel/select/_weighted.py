"""Selectors that draw a parent with probability proportional to a weight: DGM and fitness-proportional.

Weights live in a :class:`~godel.select._sumtree.SumTree`, so ``pick`` is one O(log n) descent. A new child changes
one weight (O(log n)); a refit of the normalisation (see :mod:`godel.select._normalise`) recomputes all of them with
numpy (O(n), amortised to O(1) per observation by the refit schedule).

No starvation: every weight is floored at ``WEIGHT_FLOOR`` times the largest possible base weight, so every eligible
candidate keeps a non-zero probability whatever ``lambda``, ``temperature`` or the score range. With the defaults
the floor never binds (DGM's smallest ``s`` is ``sigmoid(-5) = 0.0067``).
"""

from __future__ import annotations

import math
import random
from array import array
from typing import Literal

import numpy as np
import numpy.typing as npt

from godel.errors import ConfigError
from godel.select._normalise import Normaliser, sigmoid, sigmoid_array
from godel.select._pool import Pool
from godel.select._sumtree import SumTree

__all__ = ["WEIGHT_FLOOR", "DGMSelector", "FitnessSelector"]

WEIGHT_FLOOR = 1e-9
# Fitness rebases its exponent once a new score would weigh more than e^30 times the best at the last rebuild.
_MAX_LOG_WEIGHT = 30.0


class _Weighted(Pool):
    def __init__(self, normalize: Literal["auto", "none", "mad"]) -> None:
        super().__init__()
        if normalize not in ("auto", "none", "mad"):
            raise ConfigError(
                f"selector normalize={normalize!r} is not one of auto, none, mad",
                hint="set [selector] normalize to auto, none or mad",
            )
        self._norm = Normaliser(normalize)
        self._tree = SumTree()

    @property
    def normalisation(self) -> dict[str, float | str]:
        """The normalisation in force: kind (raw|mad), median, scale (meaningful for mad only)."""
        return {"kind": self._norm.kind, "median": self._norm.median, "scale": self._norm.scale}

    def _on_eligible(self, e: int, score: float, children: int) -> None:
        refit_now = self._norm.note(score)
        n = e + 1
        if refit_now or self._norm.due(n) or n == 1 or self._needs_rebase(score):
            self._tree.append(0.0)  # placeholder; the rebuild computes every weight including this one
            self._rebuild()
        else:
            self._tree.append(self._weight_of(e, score, children))

    def _pick_eligible(self, rng: random.Random) -> int:
        return self._tree.sample(rng.random())

    def _eligible_probabilities(self) -> list[float]:
        w = self._tree.weights()
        return [float(p) for p in w / w.sum()]

    def _rebuild(self) -> None:
        xs = self._norm.refit(np.frombuffer(self._e_score, dtype=np.float64))
        children = np.frombuffer(self._children, dtype=np.int64)[np.frombuffer(self._e_obs, dtype=np.int64)]
        self._tree.rebuild(self._weights_of(xs, children))

    def _needs_rebase(self, score: float) -> bool:
        return False

    def _weight_of(self, e: int, score: float, children: int) -> float:
        raise NotImplementedError

    def _weights_of(
        self, xs: npt.NDArray[np.float64], children: npt.NDArray[np.int64]
    ) -> npt.NDArray[np.float64]:
        raise NotImplementedError


class DGMSelector(_Weighted):
    """Darwin Gödel Machine selection: ``p ∝ s * h`` with ``s = sigmoid(lambda * (x - alpha))`` and
    ``h = 1 / (1 + children)``, where ``x`` is the raw score or its normalised quantile (see ``_normalise``).

    High scorers are favoured, but every child a parent gets (failed ones included) halves, thirds... its weight,
    so the search keeps coming back to less explored branches.
    """

    name = "dgm"

    def __init__(
        self, *, lambda_: float = 10.0, alpha: float = 0.5, normalize: Literal["auto", "none", "mad"] = "auto"
    ) -> None:
        if not (lambda_ > 0 and math.isfinite(lambda_)):
            raise ConfigError(
                f"selector lambda={lambda_!r} must be a positive finite number", hint="the DGM default is 10"
            )
        if not math.isfinite(alpha):
            raise ConfigError(f"selector alpha={alpha!r} must be finite", hint="the DGM default is 0.5")
        super().__init__(normalize)
        self.lambda_ = lambda_
        self.alpha = alpha
        self._s: array[float] = array("d")  # the sigmoid factor per eligible index

    def _weight_of(self, e: int, score: float, children: int) -> float:
        s = max(sigmoid(self.lambda_ * (self._norm.x(score) - self.alpha)), WEIGHT_FLOOR)
        self._s.append(s)
        return s / (1 + children)

    def _weights_of(
        self, xs: npt.NDArray[np.float64], children: npt.NDArray[np.int64]
    ) -> npt.NDArray[np.float64]:
        with np.errstate(over="ignore"):  # huge raw scores under normalize="none": +-inf is fine for sigmoid
            t = self.lambda_ * (xs - self.alpha)
        s = sigmoid_array(t)
        np.maximum(s, WEIGHT_FLOOR, out=s)
        self._s = array("d")
        self._s.frombytes(s.tobytes())
        out: npt.NDArray[np.float64] = s / (1.0 + children)
        return out

    def _on_children(self, e: int, children: int) -> None:
        self._tree.set(e, self._s[e] / (1 + children))


class FitnessSelector(_Weighted):
    """Fitness-proportional selection: a softmax ``p ∝ exp(x / temperature)`` over normalised scores ``x``.

    With raw scores in [0, 1] and ``temperature = 1`` the best candidate is at most e times likelier than the worst;
    lower temperatures sharpen the distribution. Child counts play no role.
    """

    name = "fitness"

    def __init__(
        self, *, temperature: float = 1.0, normalize: Literal["auto", "none", "mad"] = "auto"
    ) -> None:
        if not (temperature > 0 and math.isfinite(temperature)):
            raise ConfigError(
                f"selector temperature={temperature!r} must be a positive finite number", hint="try 1.0"
            )
        super().__init__(normalize)
        self.temperature = temperature
        self._ref = 1.0  # exponent offset: the best x at the last rebuild (1 while x is known to be <= 1)

    def _log_weight(self, x: float) -> float:
        return (x - self._ref) / self.temperature

    def _needs_rebase(self, score: float) -> bool:
        return self._log_weight(self._norm.x(score)) > _MAX_LOG_WEIGHT

    def _weight_of(self, e: int, score: float, children: int) -> float:
        return max(math.exp(self._log_weight(self._norm.x(score))), WEIGHT_FLOOR)

    def _weights_of(
        self, xs: npt.NDArray[np.float64], children: npt.NDArray[np.int64]
    ) -> npt.NDArray[np.float64]:
        self._ref = 1.0 if self._norm.bounded else float(xs.max())
        with np.errstate(under="ignore", over="ignore"):
            w = np.exp((xs - self._ref) / self.temperature)
        out: npt.NDArray[np.float64] = np.maximum(w, WEIGHT_FLOOR)
        return out
