"""Proposers turn a parent program into a child: LLM edits, local AST mutations, or a weighted mix of both.

``_reply`` parses model replies and ``_apply`` applies the edits, for every LLM proposer; ``_prompt`` builds the prompts
and ``_plan`` plans the grammar-constrained edits of local models for ``LLMProposer``; ``MutationProposer`` needs
no model; ``MixProposer`` draws one proposer per proposal by weight.
"""

from godel.propose._apply import apply_full_rewrite, apply_search_replace
from godel.propose._base import Outcome, ProposalContext, Proposer
from godel.propose._llm import LLMProposer
from godel.propose._mix import MixProposer
from godel.propose._mutate import MutationProposer
from godel.propose._plan import FULL_REWRITE_GRAMMAR, PlannedEdit, Span, edit_spans, gbnf_literal, plan_edit
from godel.propose._prompt import EDIT_SCHEMA, PromptBuilder
from godel.propose._prompt import FIELDS as PROMPT_FIELDS
from godel.propose._reply import SearchReplace, parse_full_rewrite, parse_search_replace

__all__ = [
    "EDIT_SCHEMA",
    "FULL_REWRITE_GRAMMAR",
    "PROMPT_FIELDS",
    "LLMProposer",
    "MixProposer",
    "MutationProposer",
    "Outcome",
    "PlannedEdit",
    "PromptBuilder",
    "ProposalContext",
    "Proposer",
    "SearchReplace",
    "Span",
    "apply_full_rewrite",
    "apply_search_replace",
    "edit_spans",
    "gbnf_literal",
    "parse_full_rewrite",
    "parse_search_replace",
    "plan_edit",
]
