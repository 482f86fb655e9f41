"""The ``Executor`` interface: where evaluations run (this machine's sandbox slots, or a Ray cluster)."""

from __future__ import annotations

import random
from typing import Any, Protocol, runtime_checkable

from godel.candidate import Evaluation, Program, Proposal
from godel.propose._base import ProposalContext, Proposer

__all__ = ["Executor", "RemoteProposer"]


@runtime_checkable
class Executor(Protocol):
    """Runs evaluations. ``evaluate`` blocks and is called from several engine threads at once."""

    name: str

    def evaluate(
        self, program: Program, *, evaluator_file: str | None = None, label: str = ""
    ) -> Evaluation: ...

    def close(self) -> None: ...


class RemoteProposer(Proposer):
    """A :class:`~godel.propose.Proposer` that runs the task's own proposer on an executor's workers (Ray)."""

    def __init__(self, executor: Any, name: str) -> None:
        self.executor = executor
        self.name = name

    def propose(self, ctx: ProposalContext, rng: random.Random) -> Proposal:
        result: Proposal = self.executor.propose(ctx, rng)
        return result
