"""The ``Executor`` interface: where evaluations run (this machine's sandbox slots, or a Ray cluster).

An executor may also run proposals on its workers; it declares that through :meth:`Executor.proposer` rather than
by having a ``propose`` method for callers to probe for.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

from godel.candidate import Evaluation, Program, Proposal
from godel.propose import ProposalContext, Proposer
from godel.task import Task

__all__ = ["Executor", "ProposalRunner", "ProposerFactory", "RemoteProposer"]

# Builds a task's proposer where the proposals run (inside a Ray worker, say). It is sent to the workers, so it must
# pickle; a module-level function pickles by reference and is imported there, which keeps the composition root
# (godel.parts) out of this package: the caller hands over its own function.
ProposerFactory = Callable[[Task], Proposer]


@runtime_checkable
class Executor(Protocol):
    """Runs evaluations. ``evaluate`` blocks and is called from several engine threads at once.

    Contract (checked by :mod:`godel.executor.testing` for every backend):

    * ``evaluate`` returns what :class:`~godel.evaluate.Evaluator` returns for the same program over the same
      sandbox backend. A candidate's own failure (crash, timeout, bad metrics) is a failed
      :class:`~godel.candidate.Evaluation` with its reason; a failure of the machinery that runs it (sandbox, cluster,
      a closed executor) raises :class:`~godel.errors.SandboxError`, never a failed evaluation.
    * ``evaluator_file`` (a file of the task, e.g. a hold-out evaluator) replaces the task's evaluator for that call.
    * :meth:`proposer` is None unless the executor was given a proposer factory and runs proposals on its own
      workers; then it returns a :class:`~godel.propose.Proposer` doing so, to use in place of the local one.
    * :meth:`close` releases everything the executor started; calling it again does nothing.
    """

    name: str

    def evaluate(
        self, program: Program, *, evaluator_file: str | None = None, label: str = ""
    ) -> Evaluation: ...

    def proposer(self) -> Proposer | None: ...

    def close(self) -> None: ...


class ProposalRunner(Protocol):
    """Something that runs a proposal elsewhere (on an executor's workers) and returns it."""

    def propose(self, ctx: ProposalContext, rng: random.Random) -> Proposal: ...


class RemoteProposer(Proposer):
    """A :class:`~godel.propose.Proposer` whose proposals are made by ``runner`` on an executor's workers.

    Outcomes are not forwarded (the workers' proposers keep no state the engine could update), so ``report`` is the
    protocol's no-op and the proposer never runs out.
    """

    def __init__(self, runner: Any, name: str) -> None:
        # ``runner`` is a ProposalRunner. It is typed Any only while cli.py still builds this class around any
        # Executor it probed for ``propose``; once callers get it from Executor.proposer(), it becomes ProposalRunner.
        self.runner: ProposalRunner = runner
        self.name = name

    def propose(self, ctx: ProposalContext, rng: random.Random) -> Proposal:
        return self.runner.propose(ctx, rng)
