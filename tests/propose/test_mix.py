"""MixProposer: one proposer per proposal, drawn by weight from the run's generator."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from godel.candidate import Proposal
from godel.config import ProposerConfig
from godel.errors import ApplyError, ConfigError
from godel.propose import (
    MixProposer,
    MutationProposer,
    ProposalContext,
    Proposer,
    apply_full_rewrite,
    parse_full_rewrite,
)
from tests.propose.support import context, file_task

TASK = file_task("def g(x):\n    return x * 0.5 + 1\n")


class CannedReplyProposer(Proposer):
    """Stands in for an LLM proposer: a fixed model reply pushed through the real parser and applier."""

    name = "llm"

    def __init__(self, reply: str) -> None:
        self.reply = reply

    def propose(self, ctx: ProposalContext, rng: random.Random) -> Proposal:
        try:
            code = parse_full_rewrite(self.reply)
            program = apply_full_rewrite(ctx.task, ctx.parent.program, code)
        except ApplyError as exc:
            return Proposal(program=None, proposer=self.name, error=str(exc), edit=self.reply)
        return Proposal(program=program, proposer=self.name, edit=self.reply)


GOOD = CannedReplyProposer("```python\ndef g(x):\n    return x * 0.25 + 1\n```")
BAD = CannedReplyProposer("I would make it faster.")


def test_is_a_proposer() -> None:
    assert isinstance(MixProposer([(GOOD, 1.0)]), Proposer)
    assert isinstance(MutationProposer(), Proposer)


def test_shares_follow_weights() -> None:
    mix = MixProposer([(GOOD, 0.3), (MutationProposer(), 0.7)])
    names = Counter(mix.propose(context(TASK), random.Random(i)).proposer for i in range(2000))
    assert 0.25 < names["llm"] / 2000 < 0.35
    assert names["llm"] + names["mutate"] == 2000


def test_deterministic_under_seed() -> None:
    mix = MixProposer([(GOOD, 0.5), (MutationProposer(ProposerConfig(mutations_per_proposal=3)), 0.5)])
    a = [mix.propose(context(TASK), random.Random(i)) for i in range(50)]
    b = [mix.propose(context(TASK), random.Random(i)) for i in range(50)]
    assert a == b
    assert len({p.proposer for p in a}) == 2


def test_failed_choice_is_returned_not_replaced() -> None:
    mix = MixProposer([(BAD, 1.0), (MutationProposer(), 1.0)])
    results = [mix.propose(context(TASK), random.Random(i)) for i in range(40)]
    failed = [p for p in results if not p.ok]
    assert failed and all(p.proposer == "llm" and p.error and "no Python code" in p.error for p in failed)
    assert all(p.proposer == "mutate" for p in results if p.ok)


def test_zero_weight_is_never_chosen() -> None:
    mix = MixProposer([(BAD, 0.0), (MutationProposer(), 1.0)])
    assert {mix.propose(context(TASK), random.Random(i)).proposer for i in range(50)} == {"mutate"}


def test_bad_weights_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="positive"):
        MixProposer([(GOOD, -1.0)])
    with pytest.raises(ConfigError, match="at least one"):
        MixProposer([(GOOD, 0.0)])
    with pytest.raises(ConfigError, match="at least one"):
        MixProposer([])
