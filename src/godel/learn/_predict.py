"""The outcome predictor (the "world model"): the chance that a proposal evaluates at all and that it improves on its
parent, predicted before the sandbox is spent on it, learned online from the run's own results.

Two logistic regressions (online, AdaGrad, L2) over a few cheap features of the parent, the proposal and its diff,
the proposer and the run so far. Nothing is learned from a candidate that was not evaluated (the predictor cannot see
what a skipped one would have done), so a share of the proposals it would skip is evaluated anyway (``explore``):
that is how it can be proven wrong. Before ``min_observations`` results it never skips.
"""

from __future__ import annotations

import math
import random
import threading
import time
from bisect import bisect_left, insort
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from godel.candidate import Candidate, Program, Status

__all__ = ["FEATURES", "Outcome", "OutcomePredictor", "Prediction", "features", "outcome_of"]

FEATURES = (
    "bias",
    "proposer_llm",
    "proposer_mutate",
    "log_added",
    "log_removed",
    "size_change",
    "numbers_only",
    "adds_import",
    "adds_def",
    "removes_def",
    "parent_rank",
    "parent_is_best",
    "parent_gap",
    "parent_generation",
    "parent_child_ok",
    "parent_child_improved",
    "proposer_ok",
    "proposer_improved",
)


@dataclass(frozen=True)
class Prediction:
    p_ok: float  # the evaluation succeeds
    p_improve: float  # the child beats its parent
    observations: int  # results learned from so far
    seconds: float
    skip: bool  # below the threshold (whether or not exploration evaluates it anyway)
    explored: bool = False  # would be skipped, evaluated to keep the predictor honest

    def to_dict(self) -> dict[str, Any]:
        return {
            "p_ok": round(self.p_ok, 4),
            "p_improve": round(self.p_improve, 4),
            "observations": self.observations,
            "seconds": round(self.seconds, 6),
            "skip": self.skip,
            "explored": self.explored,
        }


@dataclass(frozen=True)
class Outcome:
    ok: bool
    improved: bool


def outcome_of(cand: Candidate, parent: Candidate) -> Outcome | None:
    """What an evaluated candidate came to (None when it was never evaluated)."""
    if cand.status == Status.OK and cand.score is not None:
        improved = not cand.flags and parent.score is not None and cand.score > parent.score
        return Outcome(not cand.flags, improved)
    if cand.status == Status.FAILED and cand.failure_stage == "evaluate":
        return Outcome(False, False)
    return None


def _changed(diff: str) -> tuple[list[str], list[str]]:
    added, removed = [], []
    for line in diff.splitlines():
        if line.startswith("+") and not line.startswith("+++"):
            added.append(line[1:])
        elif line.startswith("-") and not line.startswith("---"):
            removed.append(line[1:])
    return added, removed


def _strip_numbers(line: str) -> str:
    return "".join("0" if c.isdigit() else c for c in line).replace("0.0", "0")


@dataclass
class _Stats:
    """Smoothed success counts of a parent's children or a proposer's candidates."""

    n: int = 0
    ok: int = 0
    improved: int = 0

    def rates(self) -> tuple[float, float]:
        return (self.ok + 1) / (self.n + 2), (self.improved + 0.5) / (self.n + 2)


def features(
    parent: Candidate,
    child: Program,
    diff: str,
    proposer: str,
    *,
    rank: float,
    is_best: bool,
    gap: float = 0.5,
    parent_stats: _Stats | None = None,
    proposer_stats: _Stats | None = None,
) -> list[float]:
    """The predictor's inputs, in :data:`FEATURES` order."""
    added, removed = _changed(diff)
    size_before = max(1, parent.program.size())
    stripped_a = sorted(_strip_numbers(x) for x in added)
    stripped_r = sorted(_strip_numbers(x) for x in removed)
    numbers_only = float(bool(added) and stripped_a == stripped_r)
    pc = (parent_stats or _Stats()).rates()
    pp = (proposer_stats or _Stats()).rates()
    return [
        1.0,
        float(proposer.startswith("llm") or ":" in proposer),
        float(proposer.startswith("mutate")),
        math.log1p(len(added)),
        math.log1p(len(removed)),
        min(1.0, abs(child.size() - size_before) / size_before),
        numbers_only,
        float(any(x.lstrip().startswith(("import ", "from ")) for x in added)),
        float(any(x.lstrip().startswith("def ") for x in added)),
        float(any(x.lstrip().startswith("def ") for x in removed)),
        rank,
        float(is_best),
        gap,
        math.log1p(parent.generation),
        pc[0],
        pc[1],
        pp[0],
        pp[1],
    ]


class _Logistic:
    """Online logistic regression with AdaGrad steps and L2."""

    def __init__(self, n: int, rate: float = 0.3, l2: float = 1e-3) -> None:
        self.w = [0.0] * n
        self.g = [1e-8] * n
        self.rate = rate
        self.l2 = l2

    def p(self, x: Sequence[float]) -> float:
        z = sum(w * v for w, v in zip(self.w, x, strict=True))
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))

    def learn(self, x: Sequence[float], y: bool) -> None:
        err = self.p(x) - (1.0 if y else 0.0)
        for i, v in enumerate(x):
            grad = err * v + self.l2 * self.w[i]
            self.g[i] += grad * grad
            self.w[i] -= self.rate * grad / math.sqrt(self.g[i])


@dataclass
class OutcomePredictor:
    """Predicts, decides and learns; thread-safe (the pipeline's threads share one)."""

    skip_below: float = 0.05  # skip when the predicted chance of improving on the parent is below this
    explore: float = 0.1  # share of would-be-skipped proposals evaluated anyway
    min_observations: int = 30  # results needed before anything is skipped
    seed: int = 0
    _ok: _Logistic = field(default_factory=lambda: _Logistic(len(FEATURES)))
    _improve: _Logistic = field(default_factory=lambda: _Logistic(len(FEATURES)))
    _scores: list[float] = field(default_factory=list)
    _parents: dict[int, _Stats] = field(default_factory=dict)
    _proposers: dict[str, _Stats] = field(default_factory=dict)
    _observed: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    @property
    def observations(self) -> int:
        return self._observed

    def inputs(self, parent: Candidate, child: Program, diff: str, proposer: str) -> list[float]:
        with self._lock:
            return self._inputs(parent, child, diff, proposer)

    def _inputs(self, parent: Candidate, child: Program, diff: str, proposer: str) -> list[float]:
        scores = self._scores
        if parent.score is not None and scores:
            rank = bisect_left(scores, parent.score) / len(scores)
            is_best = parent.score >= scores[-1]
            span = scores[-1] - scores[0]
            # How far below the best the parent is, in units of the spread of the run's scores.
            gap = (scores[-1] - parent.score) / span if span > 0 else 0.0
        else:
            rank, is_best, gap = 0.5, False, 0.5
        return features(
            parent,
            child,
            diff,
            proposer,
            rank=rank,
            is_best=is_best,
            gap=max(0.0, min(1.0, gap)),
            parent_stats=self._parents.get(parent.id) if parent.id is not None else None,
            proposer_stats=self._proposers.get(_family(proposer)),
        )

    def predict(self, parent: Candidate, child: Program, diff: str, proposer: str) -> Prediction:
        t0 = time.perf_counter()
        with self._lock:
            x = self._inputs(parent, child, diff, proposer)
            p_ok, p_improve = self._ok.p(x), self._improve.p(x)
            skip = self._observed >= self.min_observations and p_improve < self.skip_below
            explored = skip and self._rng.random() < self.explore
        return Prediction(p_ok, p_improve, self._observed, time.perf_counter() - t0, skip, explored)

    def observe(self, parent: Candidate, cand: Candidate) -> None:
        """Learn from an evaluated candidate (anything never evaluated teaches nothing and is ignored)."""
        outcome = outcome_of(cand, parent)
        if outcome is None:
            return
        with self._lock:
            x = self._inputs(parent, cand.program, cand.diff or "", cand.proposer)
            self._ok.learn(x, outcome.ok)
            self._improve.learn(x, outcome.improved)
            self._observed += 1
            for stats in (
                self._parents.setdefault(parent.id if parent.id is not None else -1, _Stats()),
                self._proposers.setdefault(_family(cand.proposer), _Stats()),
            ):
                stats.n += 1
                stats.ok += outcome.ok
                stats.improved += outcome.improved
            if cand.score is not None and outcome.ok:
                insort(self._scores, cand.score)

    def seen_score(self, score: float) -> None:
        """A score the run holds (the seed's, say) that ranks parents."""
        with self._lock:
            insort(self._scores, score)

    def weights(self) -> Mapping[str, tuple[float, float]]:
        with self._lock:
            return {n: (self._ok.w[i], self._improve.w[i]) for i, n in enumerate(FEATURES)}


def _family(proposer: str) -> str:
    return proposer.split(":", 1)[0].split("[", 1)[0]
