"""Mixing proposers: each proposal comes from one of several proposers, drawn by weight."""

from __future__ import annotations

import random
from collections.abc import Sequence

from godel.candidate import Proposal
from godel.errors import ConfigError
from godel.propose._base import Outcome, ProposalContext, Proposer

__all__ = ["MixProposer"]


class MixProposer(Proposer):
    """Draws one proposer per proposal with probability proportional to its weight, using the run's ``rng``.

    There is deliberately no fallback to another proposer when the chosen one fails: its failed proposal is
    returned as is, so the engine records it against the proposer that made it (the proposal's ``proposer`` field
    names it, not "mix") and per-proposer validity rates stay honest. The draw consumes exactly one number from
    ``rng`` before the chosen proposer gets the same generator, so a seed reproduces the whole sequence.
    """

    name = "mix"

    def __init__(self, proposers: Sequence[tuple[Proposer, float]]) -> None:
        entries = [(p, float(w)) for p, w in proposers if w != 0]
        bad = [f"{p.name}={w}" for p, w in entries if not w > 0]
        if bad:
            raise ConfigError(f"proposer weights must be positive, got {', '.join(bad)}")
        if not entries:
            raise ConfigError(
                "a mix of proposers needs at least one with a positive weight",
                hint="set proposer.llm_share between 0 and 1, or choose proposer.kind = llm or mutate",
            )
        self.proposers = entries
        self._total = sum(w for _, w in entries)

    def choose(self, rng: random.Random) -> Proposer:
        # A proposer whose budget is spent (an LLM past its cost cap) drops out of the draw; the rng still
        # consumes one number so the rest of the sequence stays reproducible.
        live = [(p, w) for p, w in self.proposers if not p.exhausted] or self.proposers
        x = rng.random() * sum(w for _, w in live)
        for proposer, weight in live:
            x -= weight
            if x < 0:
                return proposer
        return live[-1][0]

    @property
    def exhausted(self) -> bool:
        return all(p.exhausted for p, _ in self.proposers)

    def report(self, outcome: Outcome) -> None:
        # The outcome goes to the member that made the proposal (its name is on the proposal), so a member's
        # model bandit only learns from its own proposals.
        for p, _ in self.proposers:
            if p.name == outcome.proposer:
                p.report(outcome)

    def propose(self, ctx: ProposalContext, rng: random.Random) -> Proposal:
        return self.choose(rng).propose(ctx, rng)
