"""Language models: the embedded SmolLM2 default, OpenAI-compatible endpoints and Anthropic, behind one robust pool.

Every backend is an :class:`LLM`: ``complete(CompletionRequest) -> Completion``, with its :class:`Capabilities`
declared. ``make_llm(config)`` returns a :class:`ModelPool` (retries, circuit breaker and failover, rate limits,
disk cache, cost caps, weighted or UCB model choice), the :class:`Pool` a proposer works with; see docs/llm.md.
:mod:`godel.llm.testing` holds the conformance suite every backend passes and the local fake servers.
"""

from __future__ import annotations

from godel.config import LLMConfig, ModelConfig
from godel.llm._base import (
    LLM,
    Capabilities,
    Completion,
    CompletionRequest,
    Message,
    Pool,
    estimate_tokens,
)
from godel.llm._cache import ResponseCache, default_cache_dir
from godel.llm._embedded import EmbeddedLLM, default_gguf
from godel.llm._errors import EndpointError, PoolBudgetExhausted, PoolError
from godel.llm._factory import SharedPool, make_backend, make_llm
from godel.llm._limits import Bandit, CircuitBreaker, RateLimiter
from godel.llm._pool import ModelPool, ModelStats

__all__ = [
    "LLM",
    "Bandit",
    "Capabilities",
    "CircuitBreaker",
    "Completion",
    "CompletionRequest",
    "EmbeddedLLM",
    "EndpointError",
    "LLMConfig",
    "Message",
    "ModelConfig",
    "ModelPool",
    "ModelStats",
    "Pool",
    "PoolBudgetExhausted",
    "PoolError",
    "RateLimiter",
    "ResponseCache",
    "SharedPool",
    "default_cache_dir",
    "default_gguf",
    "estimate_tokens",
    "make_backend",
    "make_llm",
]
