"""Running the loop: the candidate pipeline and the schedulers that drive it.

- :class:`Pipeline` (``_pipeline``): the stages every candidate goes through, in order —
  select -> propose -> precheck -> gate -> store -> evaluate -> review -> admit.
- :class:`Engine` (``_local``): one process owns a run, N proposals / M evaluations in flight, deterministic.
- :class:`Worker` (``_worker``): one of several processes sharing a run through claims on a shared archive.

A new kind of run is a new :class:`Stages` for the same pipeline (and a ledger where storage differs).
"""

from godel.engine._accept import Acceptance, Decision, Incumbent
from godel.engine._local import Engine, budget_spent
from godel.engine._pipeline import (
    DEFAULT_STAGE_PRECHECKS,
    MAX_INFRA_ERRORS,
    Health,
    Pipeline,
    Precheck,
    Stages,
    Ticket,
    iteration_rng,
    legal_edit,
)
from godel.engine._store import CandidateCache, EventLog, Ledger, LocalLedger
from godel.engine._worker import BudgetSpent, ClaimLedger, Worker, WorkerConfig
from godel.progress import Progress, RunSummary

__all__ = [
    "DEFAULT_STAGE_PRECHECKS",
    "MAX_INFRA_ERRORS",
    "Acceptance",
    "BudgetSpent",
    "CandidateCache",
    "ClaimLedger",
    "Decision",
    "Engine",
    "EventLog",
    "Health",
    "Incumbent",
    "Ledger",
    "LocalLedger",
    "Pipeline",
    "Precheck",
    "Progress",
    "RunSummary",
    "Stages",
    "Ticket",
    "Worker",
    "WorkerConfig",
    "budget_spent",
    "iteration_rng",
    "legal_edit",
]
