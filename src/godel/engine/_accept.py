"""Acceptance: a candidate becomes the run's best only when it beats the incumbent by more than the noise.

The rule (``docs/noise.md``):

1. A candidate whose score is not above the incumbent's is not a contender.
2. A contender is compared with the incumbent (:func:`godel.noise.compare`): the difference of their mean scores
   over its standard error under the run's measured noise. It is accepted when that is at least
   ``run.acceptance_sigma`` (default 2: one honest near-tie in about 44 wins by luck) and the gain is at least
   ``run.acceptance_threshold`` of the incumbent's score (relative; default 0, the seeds' 1% is ``0.01``).
3. A near-tie (above the incumbent, but not yet significant) is raced: the contender and the incumbent are evaluated
   again side by side, and the test is repeated on the paired results, until it is decided either way or
   ``run.race_evaluations`` extra evaluations are spent; an undecided race is not an acceptance.
4. A newly accepted best is confirmed by one more paired round; if it then fails its own bar it is rolled back: the
   previous best is restored. Both the promotion and the rollback are audit events (``best``, ``rollback``).

An exact evaluator (the seed scored the same every time) needs none of this: any gain is significant at once and
nothing is re-evaluated. The contender's extra evaluations become part of its samples, so the score stored with it
is the mean of everything measured, and its spread is stored beside it.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from godel.candidate import Candidate, Evaluation
from godel.errors import SandboxError
from godel.evaluate import Evaluates
from godel.noise import Comparison, Noise, Samples, compare

__all__ = ["Acceptance", "Decision", "Incumbent", "samples_of"]


def samples_of(cand: Candidate) -> Samples | None:
    """The fitness values stored with a candidate (its first score when it predates noise-aware acceptance)."""
    doc = cand.evaluation.get("noise")
    if isinstance(doc, dict) and doc.get("samples"):
        return Samples(tuple(float(v) for v in doc["samples"]))
    return Samples((cand.score,)) if cand.score is not None else None


@dataclass(frozen=True)
class Incumbent:
    """The accepted best and what its evaluations gave (None before the seed)."""

    candidate: Candidate | None = None
    samples: Samples | None = None
    previous: Incumbent | None = None  # what a rollback restores

    @property
    def score(self) -> float | None:
        return self.samples.mean if self.samples is not None else None

    @property
    def id(self) -> int | None:
        return self.candidate.id if self.candidate is not None else None


@dataclass(frozen=True)
class Decision:
    """What acceptance concluded about one candidate."""

    accepted: bool
    samples: Samples  # the candidate's fitness values, racing included
    comparison: Comparison | None  # against the incumbent (None: not a contender)
    reason: str
    pairs: tuple[tuple[float, float], ...] = ()  # (candidate, incumbent) fitness of each racing round

    @classmethod
    def single(cls, score: float, reason: str = "not a contender") -> Decision:
        return cls(False, Samples((score,)), None, reason)

    def to_dict(self, noise: Noise) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "accepted": self.accepted,
            "reason": self.reason,
            **self.samples.to_dict(noise),
        }
        if self.comparison is not None:
            c = self.comparison
            doc["comparison"] = {
                "difference": c.difference,
                "stderr": c.stderr,
                "z": c.z if math.isfinite(c.z) else None,
                "paired": c.paired,
                "pairs": c.pairs,
            }
        return doc


class Acceptance:
    """Decides contenders against the incumbent; one decision at a time (a race evaluates both sides)."""

    def __init__(
        self,
        evaluator: Evaluates,
        *,
        sigma: float,
        threshold: float,
        race_evaluations: int,
        emit: Callable[[str, dict[str, Any]], None],
        record: Callable[[Incumbent], None],
    ) -> None:
        self.evaluator = evaluator
        self.sigma = sigma
        self.threshold = threshold
        self.race_evaluations = race_evaluations
        self.noise = Noise()
        self.incumbent = Incumbent()
        self._emit = emit
        self._record = (
            record  # keeps the run's accepted best where a resumed run and the read commands find it
        )
        self._lock = threading.RLock()

    def seat(self, incumbent: Incumbent) -> None:
        """Start from ``incumbent`` (the seed, or the best a resumed run had accepted)."""
        with self._lock:
            self.incumbent = incumbent

    def learn(self, std: float, n: int) -> None:
        """Pool another program's ``n`` repeated evaluations of spread ``std`` into the noise estimate."""
        with self._lock:
            self.noise = self.noise.merge_spread(std, n)

    def contender(self, score: float) -> bool:
        """Could ``score`` unseat the incumbent at all?"""
        with self._lock:
            best = self.incumbent.score
        return best is None or score > best

    def decide(self, cand: Candidate, ev: Evaluation) -> Decision:
        """Race ``cand`` (whose first evaluation is ``ev``) against the incumbent and decide."""
        assert ev.score is not None
        with self._lock:
            inc = self.incumbent
            mine = Samples((ev.score,))
            if inc.samples is None or inc.candidate is None:
                return Decision(True, mine, None, "the first scored candidate")
            theirs = inc.samples
            if ev.score <= theirs.mean:
                return Decision(False, mine, None, f"not above the best ({theirs.mean:.6g})")
            pairs: list[tuple[float, float]] = []
            spent = 0
            comp = compare(mine, theirs, self.noise)
            while self._undecided(comp) and spent + 2 <= self.race_evaluations:
                pair = self._pair(cand, inc.candidate, spent)
                if pair is None:
                    break
                mine, theirs = mine.add(pair[0]), theirs.add(pair[1])
                pairs.append(pair)
                spent += 2
                comp = compare(mine, theirs, self.noise, pairs)
            self.incumbent = Incumbent(
                inc.candidate, theirs, inc.previous
            )  # the incumbent's new samples count too
            return self._verdict(mine, theirs, comp, spent, tuple(pairs))

    def promote(self, cand: Candidate, decision: Decision) -> None:
        """Make ``cand`` the best; confirm it with one more paired round unless the evaluator is exact, and roll
        back to the previous best if it then fails its own bar."""
        with self._lock:
            previous = self.incumbent
            self.incumbent = Incumbent(cand, decision.samples, previous)
            self._record(self.incumbent)
            self._emit(
                "best",
                {
                    "candidate": cand.id,
                    "previous": previous.id,
                    "score": decision.samples.mean,
                    "previous_score": previous.score,
                    "decision": decision.to_dict(self.noise),
                },
            )
            if (
                previous.candidate is None
                or previous.samples is None
                or self.noise.exact
                or not self.noise.measured
            ):
                return
            pair = self._pair(cand, previous.candidate, 0, label="confirmation")
            if pair is None:
                return
            mine, theirs = decision.samples.add(pair[0]), previous.samples.add(pair[1])
            comp = compare(mine, theirs, self.noise, [*decision.pairs, pair])
            if self._passes(mine, theirs, comp):
                self.incumbent = Incumbent(
                    cand, mine, Incumbent(previous.candidate, theirs, previous.previous)
                )
                return
            self.incumbent = Incumbent(previous.candidate, theirs, previous.previous)
            self._record(self.incumbent)
            self._emit(
                "rollback",
                {
                    "candidate": cand.id,
                    "restored": previous.id,
                    "reason": f"confirmation re-evaluation failed the acceptance bar: {comp.describe()}",
                    "samples": list(mine.values),
                },
            )

    # -- helpers ------------------------------------------------------------------------------------------------

    def _undecided(self, comp: Comparison) -> bool:
        return 0 < comp.z < self.sigma

    def _passes(self, mine: Samples, theirs: Samples, comp: Comparison) -> bool:
        return comp.z >= self.sigma and comp.difference >= self.threshold * abs(theirs.mean)

    def _verdict(
        self,
        mine: Samples,
        theirs: Samples,
        comp: Comparison,
        spent: int,
        pairs: tuple[tuple[float, float], ...],
    ) -> Decision:
        raced = f" after racing ({spent} extra evaluations)" if spent else ""
        if comp.z < self.sigma:
            why = f"not significantly better{raced}: {comp.describe()}, needs {self.sigma:g} sigma"
            return Decision(False, mine, comp, why, pairs)
        need = self.threshold * abs(theirs.mean)
        if comp.difference < need:
            why = (
                f"gain {comp.difference:.4g} below run.acceptance_threshold={self.threshold:g} "
                f"of the best's {theirs.mean:.6g}"
            )
            return Decision(False, mine, comp, why, pairs)
        return Decision(True, mine, comp, f"significantly better{raced}: {comp.describe()}", pairs)

    def _pair(
        self, cand: Candidate, other: Candidate, spent: int, label: str = "race"
    ) -> tuple[float, float] | None:
        """Evaluate both side by side; None when either evaluation fails (the race ends undecided)."""
        try:
            a = self.evaluator.evaluate(cand.program, label=f"{label} candidate {cand.id} #{spent // 2 + 1}")
            b = self.evaluator.evaluate(other.program, label=f"{label} best {other.id} #{spent // 2 + 1}")
        except SandboxError as exc:
            # The infrastructure failed mid-race: the race ends undecided (never an acceptance), and it is said so.
            self._emit(
                "error",
                {
                    "candidate": cand.id,
                    "infrastructure": True,
                    "reason": f"{label} evaluation could not run: {exc}",
                },
            )
            return None
        failed = [(c.id, e.reason) for c, e in ((cand, a), (other, b)) if not e.ok or e.score is None]
        if failed:
            self._emit(
                "race",
                {"candidate": cand.id, "ended": "an evaluation failed", "failed": [list(f) for f in failed]},
            )
            return None
        assert a.score is not None and b.score is not None
        return a.score, b.score
