"""Proposers turn a parent program into a child: LLM edits, local AST mutations, or a weighted mix of both.

``_apply`` holds the reply parsers and the edit applier every LLM proposer shares; ``MutationProposer`` needs no
model; ``MixProposer`` draws one proposer per proposal by weight.
"""

from godel.propose._apply import (
    SearchReplace,
    apply_full_rewrite,
    apply_search_replace,
    parse_full_rewrite,
    parse_search_replace,
)
from godel.propose._base import Outcome, ProposalContext, Proposer
from godel.propose._mix import MixProposer
from godel.propose._mutate import MutationProposer

__all__ = [
    "MixProposer",
    "MutationProposer",
    "Outcome",
    "ProposalContext",
    "Proposer",
    "SearchReplace",
    "apply_full_rewrite",
    "apply_search_replace",
    "parse_full_rewrite",
    "parse_search_replace",
]
