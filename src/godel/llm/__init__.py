"""Language models: the embedded SmolLM2 default, OpenAI-compatible endpoints and Anthropic, behind one robust pool.

``make_llm(config)`` returns a :class:`ModelPool` (retries, circuit breaker and failover, rate limits, disk cache,
cost caps, weighted or UCB model choice); see docs/llm.md.
"""

from __future__ import annotations

from godel.config import LLMConfig, ModelConfig
from godel.llm._base import LLM, Completion, Message
from godel.llm._cache import ResponseCache, default_cache_dir
from godel.llm._errors import EndpointError
from godel.llm._factory import make_backend, make_llm
from godel.llm._grammar import FULL_REWRITE_GRAMMAR, PlannedEdit, gbnf_literal, plan_edit
from godel.llm._limits import Bandit, CircuitBreaker, RateLimiter
from godel.llm._pool import ModelPool
from godel.llm._prompt import FIELDS as PROMPT_FIELDS
from godel.llm._prompt import PromptBuilder

__all__ = [
    "FULL_REWRITE_GRAMMAR",
    "LLM",
    "PROMPT_FIELDS",
    "Bandit",
    "CircuitBreaker",
    "Completion",
    "EndpointError",
    "LLMConfig",
    "Message",
    "ModelConfig",
    "ModelPool",
    "PlannedEdit",
    "PromptBuilder",
    "RateLimiter",
    "ResponseCache",
    "default_cache_dir",
    "gbnf_literal",
    "make_backend",
    "make_llm",
    "plan_edit",
]
