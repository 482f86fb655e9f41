"""What a run shows while it goes (:class:`Progress`) and what it says when it ends (:class:`RunSummary`).

A leaf module: the engine updates these, and the CLI, telemetry and dashboard read them, without depending on the
engine.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from godel.candidate import Candidate, Status

__all__ = ["Progress", "RunSummary"]


@dataclass
class Progress:
    """What a progress display shows; updated after every finished candidate."""

    run_id: int
    run_name: str
    iteration: int = 0
    total: int = 0
    done: int = 0
    best_score: float | None = None
    best_id: int | None = None
    seed_score: float | None = None
    proposals: int = 0
    valid_proposals: int = 0
    ok: int = 0
    failed: int = 0
    rejected: int = 0
    awaiting: int = 0
    evaluations: int = 0
    infrastructure_errors: int = 0  # evaluations the sandbox / executor could not run
    model_errors: int = 0  # proposals the model endpoints could not make (after retries and failover)
    tokens: int = 0
    cost: float = 0.0
    started: float = field(default_factory=time.monotonic)
    last_reason: str | None = None

    def show_best(self, score: float | None, cid: int | None) -> None:
        """The run's accepted best (acceptance decides it, under the measured noise: not simply the top score)."""
        self.best_score, self.best_id = score, cid

    def count(self, cand: Candidate, infrastructure: str = "") -> None:
        """Account for a candidate this session finished; a candidate still pending is one the infrastructure
        could not evaluate (``infrastructure`` says why)."""
        self.done += 1
        self.iteration = max(self.iteration, cand.iteration)
        self.proposals += 1
        if cand.failure_stage != "propose":
            self.valid_proposals += 1
        if cand.evaluation:
            self.evaluations += 1
        self.tokens += cand.tokens_in + cand.tokens_out
        self.cost += cand.cost
        if cand.status == Status.OK:
            self.ok += 1
        elif cand.status == Status.FAILED:
            self.failed += 1
            self.last_reason = cand.reason
        elif cand.status == Status.REJECTED:
            self.rejected += 1
            self.last_reason = cand.reason
        elif cand.status == Status.AWAITING_APPROVAL:
            self.awaiting += 1
        elif cand.status == Status.PENDING:
            self.infrastructure_errors += 1
            self.last_reason = f"infrastructure: {infrastructure}"

    @property
    def valid_rate(self) -> float:
        return self.valid_proposals / self.proposals if self.proposals else 0.0

    @property
    def evals_per_second(self) -> float:
        elapsed = time.monotonic() - self.started
        return self.evaluations / elapsed if elapsed > 0 else 0.0


@dataclass
class RunSummary:
    run_id: int
    run_name: str
    stopped: str  # why the loop stopped: "iterations" | "wall time" | "tokens" | "cost" | "interrupted"
    progress: Progress
    best: Candidate | None
    seed: Candidate | None
    noise: dict[str, Any] | None = None  # the evaluator's measured noise (godel.noise.Noise.to_dict())
    reason: str = ""  # why it stopped, in words, when infrastructure stopped it

    def to_dict(self) -> dict[str, Any]:
        p = self.progress
        return {
            "run_id": self.run_id,
            "run_name": self.run_name,
            "stopped": self.stopped,
            "stopped_reason": self.reason,
            "candidates": p.done,  # this session's proposals; the seed comes on top
            "proposals": p.done,
            "ok": p.ok,
            "failed": p.failed,
            "rejected": p.rejected,
            "awaiting_approval": p.awaiting,
            "infrastructure_errors": p.infrastructure_errors + p.model_errors,
            "evaluation_infrastructure_errors": p.infrastructure_errors,
            "model_endpoint_errors": p.model_errors,
            "valid_proposal_rate": round(
                p.valid_rate, 4
            ),  # proposals that produced a program (not: evaluated OK)
            "evaluations_per_second": round(p.evals_per_second, 3),
            "tokens": p.tokens,
            "cost": p.cost,
            "seed_score": self.seed.score if self.seed else None,
            "best_score": self.best.score if self.best else None,
            "best_id": self.best.id if self.best else None,
            "noise": self.noise,
            "seconds": round(time.monotonic() - p.started, 3),
        }
