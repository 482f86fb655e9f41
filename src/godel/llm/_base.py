"""The ``LLM`` interface: one chat completion, with token accounting and optional grammar constraints."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable

__all__ = ["LLM", "Completion", "Message"]


@dataclass(frozen=True)
class Message:
    role: Literal["system", "user", "assistant"]
    content: str


@dataclass(frozen=True)
class Completion:
    text: str
    model: str
    tokens_in: int = 0
    tokens_out: int = 0
    seconds: float = 0.0
    cost: float = 0.0
    finish_reason: str = "stop"
    cached: bool = False


@runtime_checkable
class LLM(Protocol):
    """A chat model. ``grammar`` is a GBNF grammar honoured by local backends (ignored or mapped to structured
    output by remote ones); ``schema`` is a JSON schema the reply must follow, enforced by endpoints with structured
    outputs and ignored elsewhere. Implementations raise :class:`godel.errors.LLMError` with a message naming the cause."""

    name: str

    def complete(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int = 512,
        temperature: float = 0.7,
        seed: int | None = None,
        grammar: str | None = None,
        stop: Sequence[str] = (),
        schema: Mapping[str, Any] | None = None,
    ) -> Completion: ...
