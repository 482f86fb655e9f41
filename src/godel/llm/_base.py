"""The ``LLM`` interface: one chat completion for one frozen :class:`CompletionRequest`, with token accounting,
retry notes and declared capabilities; and the ``Pool`` interface the proposer depends on."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable

from godel.errors import LLMError

__all__ = [
    "LLM",
    "Capabilities",
    "Completion",
    "CompletionRequest",
    "Message",
    "Pool",
    "estimate_tokens",
]


def estimate_tokens(text: str) -> int:
    """A tokenizer-free estimate (about 3.5 characters a token for code and English), rounded up."""
    return len(text) * 2 // 7 + 1


@dataclass(frozen=True)
class Message:
    role: Literal["system", "user", "assistant"]
    content: str


@dataclass(frozen=True)
class CompletionRequest:
    """Everything that determines one reply.

    ``grammar`` is a GBNF grammar, honoured by backends whose :class:`Capabilities` say ``grammar`` and ignored by
    the others; ``schema`` is a JSON schema the reply must follow, honoured where ``structured`` is declared and
    ignored elsewhere. A trailing ``assistant`` message is a prefill, continued where ``prefill`` is declared.
    """

    messages: tuple[Message, ...]
    max_tokens: int = 512
    temperature: float = 0.7
    seed: int | None = None
    grammar: str | None = None
    stop: tuple[str, ...] = ()
    schema: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        # Callers often hold lists; the request stays immutable whatever they pass.
        object.__setattr__(self, "messages", tuple(self.messages))
        object.__setattr__(self, "stop", tuple(self.stop))
        if not self.messages:
            raise LLMError("a completion request needs at least one message")
        if self.max_tokens < 1:
            raise LLMError(
                f"a completion request needs max_tokens >= 1, got {self.max_tokens}",
                hint="raise max_tokens of the model or of the request",
            )
        if self.temperature < 0:
            raise LLMError(f"a completion request needs temperature >= 0, got {self.temperature}")

    @property
    def prompt_text(self) -> str:
        return "".join(m.content for m in self.messages)


@dataclass(frozen=True)
class Completion:
    """One reply. ``notes`` are the retries, skips and failovers it took (a pool's; a single backend has none).
    ``finish_reason`` is in OpenAI's vocabulary whatever the backend: ``"stop"`` (the model ended, or a stop
    sequence came), ``"length"`` (``max_tokens`` reached), or another reason the backend gave."""

    text: str
    model: str
    tokens_in: int = 0
    tokens_out: int = 0
    seconds: float = 0.0
    cost: float = 0.0
    finish_reason: str = "stop"
    cached: bool = False
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Capabilities:
    """What a backend promises beyond plain chat, so callers never have to probe for it.

    ``grammar``: a request's GBNF grammar constrains the reply. ``prefill``: a trailing assistant message is
    continued and :attr:`Completion.text` holds only the continuation. ``structured``: a request's JSON schema
    constrains the reply (structured outputs). ``seeded``: the same request with the same seed returns the same
    reply (a promise; remote endpoints take a seed on a best-effort basis and do not declare it).
    """

    grammar: bool = False
    prefill: bool = False
    structured: bool = False
    seeded: bool = False

    @staticmethod
    def common(members: tuple[Capabilities, ...]) -> Capabilities:
        """What every one of ``members`` promises (nothing when there are none)."""
        if not members:
            return Capabilities()
        return Capabilities(
            grammar=all(c.grammar for c in members),
            prefill=all(c.prefill for c in members),
            structured=all(c.structured for c in members),
            seeded=all(c.seeded for c in members),
        )


@runtime_checkable
class LLM(Protocol):
    """A chat model. Implementations declare the interface by subclassing it, and raise
    :class:`godel.llm.EndpointError` (an :class:`~godel.errors.LLMError`) with a message naming the cause."""

    name: str
    capabilities: Capabilities

    def complete(self, request: CompletionRequest) -> Completion:
        """The reply to ``request``; :attr:`Completion.model` names the model that wrote it."""
        ...


@runtime_checkable
class Pool(LLM, Protocol):
    """What a proposer needs from its models beyond one completion: the configured defaults, the budget, and a
    channel for feedback. :class:`godel.llm.ModelPool` implements it; ``ModelPool.wrap`` makes one of a plain
    backend.

    :meth:`complete` raises :class:`godel.llm.PoolError` when no model could answer and
    :class:`godel.llm.PoolBudgetExhausted` when the caps leave room for no call; both carry the ``notes`` made
    so far (retries, skips, failovers).
    """

    @property
    def max_tokens(self) -> int:
        """The reply length a request should ask for unless it knows better."""
        ...

    @property
    def temperature(self) -> float:
        """The sampling temperature a request should use."""
        ...

    @property
    def attempts(self) -> int | None:
        """Decodes per proposal when a reply does not apply (``llm.attempts``); ``None``: the proposer decides."""
        ...

    @property
    def exhausted(self) -> bool:
        """True once the cost or token cap leaves room for no further call."""
        ...

    def report(self, model: str, improvement: float, cost: float) -> None:
        """A proposal from ``model`` was evaluated: ``improvement`` is the child's score gain over its parent (0
        or negative when it did not improve, or failed), ``cost`` what the proposal cost."""
        ...
