"""The ``Proposer`` interface: turn a parent (plus context) into a new program."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from godel.candidate import Candidate, Proposal
from godel.task import Task

__all__ = ["ProposalContext", "Proposer"]


@dataclass(frozen=True)
class ProposalContext:
    task: Task
    parent: Candidate
    iteration: int
    inspirations: tuple[Candidate, ...] = ()
    # Errors from this run's recent failed proposals on the same parent (apply failures, evaluator errors),
    # fed back so a model can correct itself.
    feedback: tuple[str, ...] = ()


@runtime_checkable
class Proposer(Protocol):
    name: str

    def propose(self, ctx: ProposalContext, rng: random.Random) -> Proposal:
        """Return a :class:`Proposal`. A proposal that could not be produced or applied has ``program=None``
        and ``error`` set; proposers do not raise for bad model output."""
