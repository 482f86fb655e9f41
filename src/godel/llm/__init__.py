"""Language models: the embedded SmolLM2 default, OpenAI-compatible endpoints and Anthropic, behind one robust pool.

``make_llm(config)`` returns a :class:`ModelPool` (retries, circuit breaker and failover, rate limits, disk cache,
cost caps, weighted or UCB model choice); see docs/llm.md.
"""

from __future__ import annotations

from typing import Any

from godel.llm._base import LLM, Completion, Message
from godel.llm._cache import ResponseCache, default_cache_dir
from godel.llm._config import LLMConfig, ModelConfig
from godel.llm._errors import EndpointError
from godel.llm._factory import make_backend, make_llm
from godel.llm._limits import Bandit, CircuitBreaker, RateLimiter
from godel.llm._pool import ModelPool

# godel.config imports godel.llm._config, so this package must not import godel.task / godel.config eagerly:
# the grammar and prompt helpers (which do) are loaded on first use.
_LAZY = {
    "FULL_REWRITE_GRAMMAR": ("godel.llm._grammar", "FULL_REWRITE_GRAMMAR"),
    "PlannedEdit": ("godel.llm._grammar", "PlannedEdit"),
    "gbnf_literal": ("godel.llm._grammar", "gbnf_literal"),
    "plan_edit": ("godel.llm._grammar", "plan_edit"),
    "PROMPT_FIELDS": ("godel.llm._prompt", "FIELDS"),
    "PromptBuilder": ("godel.llm._prompt", "PromptBuilder"),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'godel.llm' has no attribute {name!r}")


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
