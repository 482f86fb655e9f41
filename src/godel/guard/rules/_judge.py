"""``model_judge``: a principle in plain language, judged by the run's model pool.

The static checks read syntax; a principle such as "never expose secrets or credentials" or "validate user data
before it is stored" is about intent, which only a reader can judge. Following Constitutional AI's critique step, a
``model_judge`` rule shows the model the principle, a few labelled examples and the (redacted) diff, and asks one
question: does this change violate the principle? The reply is parsed strictly into a :class:`JudgeVerdict`
(``violates``, ``reasons``): a GBNF grammar constrains the embedded model, a JSON schema (structured outputs) the
remote ones, and anything that is not exactly ``{"violates": <bool>, "reasons": <string>}`` is a malformed reply.

The check itself finds nothing (its :class:`~godel.guard.rules.Check` is ``judged``): the gate asks the model,
through :func:`ask`, after every static rule passed. Failure is never silent: no model, a malformed reply or a
spent budget gives the rule's ``on_error`` decision (``require_approval`` unless the rule says otherwise), and the
evidence says ``fallback: <decision> because <cause>``.

The prompt is fixed (documented in docs/guard.md): a system message that states the task and the reply format, then
each labelled example as a user turn (principle, diff, question) answered by an assistant turn holding its verdict,
then the change to judge as the last user turn. Temperature 0 and a fixed seed make the verdict reproducible, and
cacheable by the pool's response cache.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import Field, field_validator

from godel.errors import BudgetExhausted, GodelError, GuardError
from godel.guard.rules._base import Context, Finding, Params, check
from godel.llm import CompletionRequest, Message, Pool
from godel.redact import redact

__all__ = [
    "GRAMMAR",
    "SCHEMA",
    "SYSTEM_PROMPT",
    "Fallback",
    "JudgeExample",
    "JudgeParams",
    "JudgeVerdict",
    "Judgement",
    "MalformedVerdict",
    "ask",
    "judge_messages",
    "model_judge",
    "parse_verdict",
]

Fallback = Literal["require_approval", "deny", "allow"]
Tier = Literal["deny", "require_approval"]

SYSTEM_PROMPT = (
    "You review one code change against one principle. Reply with JSON only, exactly "
    '{"violates": true, "reasons": "..."} or {"violates": false, "reasons": "..."}. '
    '"violates" is true only when the change itself breaks the principle; code the change does not touch does not '
    'count. "reasons" is one short sentence that names what in the change decided it.'
)

# The reply, character for character: the embedded model cannot produce anything else, and the reasons end within
# the token budget (a bounded repetition) instead of running into max_tokens.
GRAMMAR = r"""root ::= "{\"violates\": " verdict ", \"reasons\": \"" reason "\"}"
verdict ::= "true" | "false"
reason ::= char{1,240}
char ::= [^"\\\x00-\x1f]
"""

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"violates": {"type": "boolean"}, "reasons": {"type": "string"}},
    "required": ["violates", "reasons"],
    "additionalProperties": False,
}

_QUESTION = (
    "Principle: {principle}\n\nChange (unified diff):\n{diff}\nDoes this change violate the principle?"
)
_REPLY_EXCERPT = 300  # characters of a reply kept in the evidence


class JudgeExample(Params):
    """One labelled change shown to the model before the change it judges."""

    diff: str = Field(min_length=1, max_length=8000)
    violates: bool
    reasons: str = Field("", max_length=500)


class JudgeParams(Params):
    principle: str = Field(min_length=1, max_length=2000)
    examples: tuple[JudgeExample, ...] = Field((), max_length=16)
    on_error: Fallback = "require_approval"
    max_diff_chars: int = Field(8000, ge=200, le=200_000)  # longer diffs are cut (and the evidence says so)
    max_tokens: int = Field(160, ge=32, le=4096)

    @field_validator("principle")
    @classmethod
    def _not_blank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("the principle is blank")
        return v.strip()


@check(
    "model_judge",
    JudgeParams,
    "asks the run's model pool whether the change violates a principle in plain language",
    judged=True,
)
def model_judge(ctx: Context, p: JudgeParams) -> list[Finding]:
    # Nothing to find statically: the gate asks the model (see ask) once the static rules passed.
    return []


@dataclass(frozen=True)
class JudgeVerdict:
    """The model's answer: does the change violate the principle, and why."""

    violates: bool
    reasons: str


class MalformedVerdict(GuardError):
    """A judge's reply that is not exactly ``{"violates": <bool>, "reasons": <string>}``."""


def parse_verdict(text: str) -> JudgeVerdict:
    """The verdict ``text`` holds, read strictly: one JSON object with exactly ``violates`` (a boolean) and
    ``reasons`` (a string), surrounded by nothing but whitespace."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise MalformedVerdict(f"not JSON ({exc.msg} at character {exc.pos})") from exc
    if not isinstance(doc, dict):
        raise MalformedVerdict(f"a JSON {type(doc).__name__}, not an object")
    if set(doc) != {"violates", "reasons"}:
        raise MalformedVerdict(f"keys {sorted(doc)}, not exactly ['reasons', 'violates']")
    if not isinstance(doc["violates"], bool):
        raise MalformedVerdict(f"violates is {doc['violates']!r}, not true or false")
    if not isinstance(doc["reasons"], str):
        raise MalformedVerdict(f"reasons is {type(doc['reasons']).__name__}, not a string")
    return JudgeVerdict(doc["violates"], doc["reasons"].strip())


def _answer(violates: bool, reasons: str) -> str:
    if not reasons:
        reasons = "it breaks the principle" if violates else "nothing in it breaks the principle"
    return json.dumps({"violates": violates, "reasons": reasons})


def _question(principle: str, diff: str) -> str:
    return _QUESTION.format(principle=principle, diff=diff if diff.endswith("\n") else diff + "\n")


def judge_messages(principle: str, examples: tuple[JudgeExample, ...], diff: str) -> tuple[Message, ...]:
    """The fixed prompt: the system message, each example as a question and its answer, then ``diff``."""
    out = [Message("system", SYSTEM_PROMPT)]
    for ex in examples:
        out.append(Message("user", _question(principle, redact(ex.diff))))
        out.append(Message("assistant", _answer(ex.violates, ex.reasons)))
    out.append(Message("user", _question(principle, diff)))
    return tuple(out)


def _cut(diff: str, limit: int) -> tuple[str, int]:
    """``diff`` cut to ``limit`` characters at a line end, and how many characters were cut."""
    if len(diff) <= limit:
        return diff, 0
    head = diff[:limit]
    if "\n" in head:
        head = head[: head.rindex("\n") + 1]
    return head + f"... ({len(diff) - len(head)} more characters not shown)\n", len(diff) - len(head)


@dataclass(frozen=True)
class Judgement:
    """One rule's consultation of the model: what it decided and why, and what it cost.

    ``decision`` is what the rule adds to the verdict: ``allow`` (no violation), the rule's tier (a violation), or
    the rule's ``on_error`` when no verdict could be had, in which case ``fallback`` says why.
    """

    rule: str
    tier: Tier
    decision: Literal["allow", "deny", "require_approval"]
    verdict: JudgeVerdict | None = None
    fallback: str | None = None
    model: str | None = None
    tokens_in: int = 0
    tokens_out: int = 0
    cost: float = 0.0
    seconds: float = 0.0
    cached: bool = False
    cut_chars: int = 0
    reply: str | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def reason(self) -> str | None:
        """The line a verdict's ``reasons`` gets, or None when the rule let the change through."""
        if self.fallback is not None:
            return f"[{self.rule}] {self.fallback}"
        if self.verdict is not None and self.verdict.violates:
            return f"[{self.rule}] model judge ({self.model}): {self.verdict.reasons}"
        return None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "rule": self.rule,
            "tier": self.tier,
            "decision": self.decision,
            "violates": None if self.verdict is None else self.verdict.violates,
            "reasons": None if self.verdict is None else self.verdict.reasons,
            "fallback": self.fallback,
            "model": self.model,
            "tokens_in": self.tokens_in,
            "tokens_out": self.tokens_out,
            "cost": round(self.cost, 8),
            "seconds": round(self.seconds, 6),
        }
        if self.cached:
            out["cached"] = True
        if self.cut_chars:
            out["diff_cut_chars"] = self.cut_chars
        if self.reply is not None:
            out["reply"] = self.reply
        if self.notes:
            out["notes"] = list(self.notes)
        return out


def _fallback(rule: str, tier: Tier, p: JudgeParams, why: str, **kw: Any) -> Judgement:
    return Judgement(rule, tier, p.on_error, fallback=f"fallback: {p.on_error} because {why}", **kw)


def ask(pool: Pool | GodelError, rule: str, tier: Tier, p: JudgeParams, diff: str) -> Judgement:
    """Ask ``pool`` whether ``diff`` violates the rule's principle. ``pool`` is the error that kept a pool from
    being built when none could be; that, an unavailable model, a spent budget and a malformed reply all give the
    rule's ``on_error`` decision, recorded as a fallback."""
    if isinstance(pool, GodelError):
        return _fallback(rule, tier, p, f"no model is available: {pool}")
    shown, cut = _cut(redact(diff), p.max_diff_chars)
    if pool.exhausted:
        return _fallback(
            rule, tier, p, "the model budget is spent (llm.max_cost / llm.max_tokens)", cut_chars=cut
        )
    request = CompletionRequest(
        judge_messages(p.principle, p.examples, shown),
        max_tokens=p.max_tokens,
        temperature=0.0,
        seed=0,
        grammar=GRAMMAR,
        schema=SCHEMA,
    )
    t0 = time.monotonic()
    try:
        out = pool.complete(request)
    except BudgetExhausted as exc:
        return _fallback(
            rule, tier, p, f"the model budget is spent: {exc.message}", cut_chars=cut,
            seconds=time.monotonic() - t0, notes=tuple(getattr(exc, "notes", ())),
        )  # fmt: skip
    except GodelError as exc:  # the pool's PoolError, or any other model failure
        return _fallback(
            rule, tier, p, f"the model is unavailable: {exc.message}", cut_chars=cut,
            seconds=time.monotonic() - t0, notes=tuple(getattr(exc, "notes", ())),
        )  # fmt: skip
    spent: dict[str, Any] = {
        "model": out.model,
        "tokens_in": out.tokens_in,
        "tokens_out": out.tokens_out,
        "cost": out.cost,
        "seconds": time.monotonic() - t0,
        "cached": out.cached,
        "cut_chars": cut,
        "notes": out.notes,
    }
    try:
        verdict = parse_verdict(out.text.strip())
    except MalformedVerdict as exc:
        cause = f"the model's reply is malformed ({exc.message}; finish reason {out.finish_reason})"
        return _fallback(rule, tier, p, cause, reply=redact(out.text[:_REPLY_EXCERPT]), **spent)
    return Judgement(rule, tier, tier if verdict.violates else "allow", verdict=verdict, **spent)
