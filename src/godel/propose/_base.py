"""The ``Proposer`` interface: turn a parent (plus context) into a new program, and learn from how it went."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from godel.candidate import Candidate, Proposal, Status
from godel.task import Task

__all__ = ["Outcome", "ProposalContext", "Proposer"]


@dataclass(frozen=True)
class ProposalContext:
    task: Task
    parent: Candidate
    iteration: int | None  # None: a worker's proposal, numbered by the archive when it is stored
    inspirations: tuple[Candidate, ...] = ()
    # Errors from this run's recent failed proposals on the same parent (apply failures, evaluator errors),
    # fed back so a model can correct itself.
    feedback: tuple[str, ...] = ()
    # Earlier edits that improved similar code ("strategy memory", ``proposer.strategies``): a description and a
    # unified diff each.
    strategies: tuple[str, ...] = ()


@dataclass(frozen=True)
class Outcome:
    """How one of a proposer's proposals fared, told back to it once the candidate is final."""

    proposer: str  # the proposal's ``proposer`` field (inside a mix: the member that made it)
    model: str | None  # the model that wrote it, when one did
    status: Status
    improvement: float  # score gained over the parent, 0 for anything not OK, flagged or worse
    cost: float


@runtime_checkable
class Proposer(Protocol):
    """Makes children. Every proposer declares the whole interface; those that neither learn from outcomes nor
    run out inherit the no-op :meth:`report` and ``exhausted = False`` by subclassing this protocol."""

    name: str

    def propose(self, ctx: ProposalContext, rng: random.Random) -> Proposal:
        """Return a :class:`Proposal`. A proposal that could not be produced or applied has ``program=None``
        and ``error`` set; proposers do not raise for bad model output."""
        ...

    def report(self, outcome: Outcome) -> None:
        """Feedback on a finished candidate this proposer made (a model bandit learns from it)."""
        return None

    @property
    def exhausted(self) -> bool:
        """True once the proposer can make no further proposal (a model past its cost cap)."""
        return False
