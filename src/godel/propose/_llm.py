"""``LLMProposer``: prompt a model for an edit, parse it, apply it to the parent.

With a model that declares grammars (the embedded default), the proposer plans each edit itself (which expression
to replace, or where to insert a statement: :func:`godel.propose.plan_edit`) and the model writes only the new code
under a GBNF grammar, so the reply is a SEARCH/REPLACE block that matches by construction; a reply that still does
not apply (it does not parse as Python) is re-sampled with another seed, up to ``llm.attempts`` times.
Remote models get the usual SEARCH/REPLACE (or full rewrite) instructions.

The proposer works with a :class:`godel.llm.Pool` (what it needs is declared there: capabilities, defaults,
budget, feedback); a plain backend goes in through ``ModelPool.wrap``.

Bad model output never raises: the proposal comes back with ``error`` set. Endpoint failures (after retries and
failover) and an exhausted cost cap also come back as failed proposals, marked ``meta["infra"] = True`` (and
``meta["budget_exhausted"] = True`` for the cap), so the engine records them and goes on; an engine that wants to
stop proposing with this proposer once the cap is reached checks :attr:`LLMProposer.exhausted`. The pool's
retry, skip and failover notes are kept in ``meta["notes"]``, of failed proposals too.
"""

from __future__ import annotations

import json
import random
import time
from typing import Any

from godel.candidate import Program, Proposal
from godel.config import ProposerConfig
from godel.errors import ApplyError, ConfigError
from godel.llm import CompletionRequest, Message, Pool, PoolBudgetExhausted, PoolError
from godel.propose._apply import apply_full_rewrite, apply_search_replace
from godel.propose._base import Outcome, ProposalContext, Proposer
from godel.propose._plan import FULL_REWRITE_GRAMMAR, PlannedEdit, plan_edit
from godel.propose._prompt import (
    DIFF_INSTRUCTIONS,
    EDIT_SCHEMA,
    FULL_INSTRUCTIONS,
    JSON_INSTRUCTIONS,
    PromptBuilder,
)
from godel.propose._reply import SearchReplace, parse_full_rewrite, parse_search_replace
from godel.task import Task

__all__ = ["LLMProposer"]

_PLANNED_MAX_TOKENS = (
    160  # a planned edit is one expression or two statements plus the forced rest of the line
)


def _json_edits(text: str) -> list[SearchReplace]:
    """The edits of a structured-output reply ``{"edits": [{"search": ..., "replace": ...}]}``."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ApplyError(f"the reply is not the JSON edit asked for: {exc}") from exc
    items = doc.get("edits") if isinstance(doc, dict) else None
    if not isinstance(items, list) or not items:
        raise ApplyError('the JSON reply has no "edits" list')
    edits: list[SearchReplace] = []
    for i, item in enumerate(items, start=1):
        if not (
            isinstance(item, dict)
            and isinstance(item.get("search"), str)
            and isinstance(item.get("replace"), str)
        ):
            raise ApplyError(f'edit {i} of the JSON reply needs string "search" and "replace"')
        edits.append(SearchReplace(item["search"], item["replace"]))
    return edits


def _prompt_text(messages: list[Message]) -> str:
    return "\n\n".join(f"[{m.role}]\n{m.content}" for m in messages)


class LLMProposer(Proposer):
    """A :class:`~godel.propose.Proposer` backed by a :class:`~godel.llm.Pool` of models."""

    name = "llm"

    def __init__(self, llm: Pool, config: ProposerConfig, *, attempts: int | None = None) -> None:
        self.llm = llm
        self.config = config
        self.prompts = PromptBuilder(config)
        caps = llm.capabilities
        self.grammar = caps.grammar
        self.prefill = caps.prefill
        # Remote endpoints with structured outputs get a JSON schema instead of a grammar.
        self.structured = not self.grammar and caps.structured
        self.attempts = attempts or llm.attempts or (3 if self.grammar else 1)
        self.max_tokens = llm.max_tokens
        self.temperature = llm.temperature

    @property
    def exhausted(self) -> bool:
        """True once the pool's cost or token cap leaves room for no further call."""
        return self.llm.exhausted

    def report(self, outcome: Outcome) -> None:
        """Forwarded to the pool (its bandit): see :meth:`godel.llm.Pool.report`."""
        if outcome.model is not None:
            self.llm.report(outcome.model, outcome.improvement, outcome.cost)

    def _apply(self, task: Task, parent: Program, text: str, fmt: str) -> Program:
        if not text.strip():
            raise ApplyError("the model returned an empty reply", hint="reply with a SEARCH/REPLACE block")
        if fmt == "full":
            return apply_full_rewrite(task, parent, parse_full_rewrite(text))
        if fmt == "json":
            return apply_search_replace(task, parent, _json_edits(text))
        try:
            edits = parse_search_replace(text)
        except ApplyError as exc:
            if "```" not in text:
                raise
            # A model asked for a diff that answered with a code block: use it as a full rewrite if it fits.
            try:
                return apply_full_rewrite(task, parent, parse_full_rewrite(text))
            except ApplyError:
                raise exc from None
        return apply_search_replace(task, parent, edits)

    def propose(self, ctx: ProposalContext, rng: random.Random) -> Proposal:
        t0 = time.monotonic()
        task, parent = ctx.task, ctx.parent.program
        fmt = "full" if self.config.edit_format == "full" else ("json" if self.structured else "diff")
        base_seed = rng.getrandbits(31)
        tokens_in = tokens_out = 0
        cost = 0.0
        model: str | None = None
        errors: list[str] = []
        notes: list[str] = []
        prompt = ""
        text = ""
        cached = 0
        meta: dict[str, Any] = {"format": fmt, "grammar": self.grammar}
        history: list[Message] = []

        def result(program: Program | None, error: str | None, **extra: Any) -> Proposal:
            meta.update(extra)
            meta.update({"attempts": len(errors) + (program is not None), "seed": base_seed})
            if errors:
                meta["errors"] = errors
            if notes:
                meta["notes"] = notes
            if cached:
                meta["cached"] = cached
            return Proposal(
                program=program,
                proposer=self.name,
                error=error,
                edit=text,
                model=model,
                prompt=prompt or None,
                tokens_in=tokens_in,
                tokens_out=tokens_out,
                cost=cost,
                seconds=time.monotonic() - t0,
                meta=meta,
            )

        for attempt in range(self.attempts):
            plan: PlannedEdit | None = None
            if fmt == "diff" and self.grammar:
                plan = plan_edit(task, parent, rng)
            if plan is not None:
                instructions = plan.instruction + " Reply with one SEARCH/REPLACE block."
            else:
                instructions = {"full": FULL_INSTRUCTIONS, "json": JSON_INSTRUCTIONS}.get(
                    fmt, DIFF_INSTRUCTIONS
                )
            try:
                messages = self.prompts.build(ctx, instructions)
            except ConfigError as exc:
                return result(None, f"prompt template: {exc}", infra=True)
            prefill = ""
            grammar: str | None = None
            max_tokens = self.max_tokens
            if plan is not None:
                meta["op"] = plan.op
                max_tokens = min(self.max_tokens, _PLANNED_MAX_TOKENS + len(plan.span.text) // 3)
                if self.prefill:
                    prefill, grammar = plan.prefill, plan.grammar
                    messages.append(Message("assistant", prefill))
                else:
                    grammar = plan.full_grammar
                    max_tokens += len(plan.prefill) // 2
            elif self.grammar and fmt == "full":
                grammar = FULL_REWRITE_GRAMMAR
            messages = messages + history
            prompt = _prompt_text(messages)
            request = CompletionRequest(
                tuple(messages),
                max_tokens=max_tokens,
                temperature=self.temperature,
                seed=base_seed + 7919 * attempt,
                grammar=grammar,
                schema=EDIT_SCHEMA if fmt == "json" else None,
            )
            try:
                completion = self.llm.complete(request)
            except PoolBudgetExhausted as exc:
                notes.extend(exc.notes)
                return result(None, f"LLM budget exhausted: {exc}", infra=True, budget_exhausted=True)
            except PoolError as exc:
                notes.extend(exc.notes)
                return result(None, f"model endpoint failed: {exc}", infra=True)
            notes.extend(completion.notes)
            model = completion.model
            tokens_in += completion.tokens_in
            tokens_out += completion.tokens_out
            cost += completion.cost
            cached += int(completion.cached)
            text = prefill + completion.text
            try:
                program = self._apply(task, parent, text, fmt)
            except ApplyError as exc:
                errors.append(str(exc))
                if plan is None:
                    # Remote models: show the failed reply and the reason, then ask again.
                    history += [
                        Message("assistant", completion.text),
                        Message("user", f"That edit could not be applied: {exc}. Try again."),
                    ]
                continue
            return result(program, None)
        return result(
            None,
            f"the model's reply could not be applied ({len(errors)} attempt(s)): {errors[-1]}",
        )
