"""``make_llm``: the configured models behind one robust :class:`ModelPool`."""

from __future__ import annotations

import threading
from collections.abc import Callable

from godel.config import LLMConfig, ModelConfig
from godel.errors import GodelError, LLMError
from godel.llm._base import LLM
from godel.llm._cache import ResponseCache, default_cache_dir
from godel.llm._errors import EndpointError
from godel.llm._pool import ModelPool

__all__ = ["SharedPool", "make_backend", "make_llm"]


def make_backend(config: ModelConfig) -> LLM:
    """One raw backend (no retries, no cache); raises :class:`EndpointError` when it cannot be set up."""
    if config.backend == "embedded":
        from godel.llm._embedded import EmbeddedLLM

        return EmbeddedLLM(config)
    if config.backend == "openai":
        from godel.llm._openai import OpenAICompatibleLLM

        return OpenAICompatibleLLM(config)
    from godel.llm._anthropic import AnthropicLLM

    return AnthropicLLM(config)


def make_llm(config: LLMConfig | None = None) -> ModelPool:
    """The models of ``[llm]`` (the embedded SmolLM2 when none is configured) as one :class:`ModelPool`.

    A model that cannot be set up (missing key, missing package) is kept out of rotation with its reason; when no
    model at all can be set up this raises :class:`LLMError` naming every cause.
    """
    config = config or LLMConfig()
    models = config.models or (ModelConfig(),)
    members: list[tuple[ModelConfig, LLM | EndpointError]] = []
    for mc in models:
        try:
            members.append((mc, make_backend(mc)))
        except EndpointError as exc:
            members.append((mc, exc))
    broken = [b for _, b in members if isinstance(b, EndpointError)]
    if len(broken) == len(members):
        raise LLMError(
            "no language model can be used: " + "; ".join(str(b) for b in broken),
            hint=broken[0].hint,
        )
    cache = ResponseCache(config.cache_dir or default_cache_dir()) if config.cache else None
    return ModelPool(config, members, cache=cache)


class SharedPool:
    """A run's one model pool, built by :func:`make_llm` on first use and handed to every part that asks a model
    (the proposer, the guard's model-judged rules), so that they share its caps, cache, rate limits and circuit
    breakers. Calling it returns the pool; when none can be built it raises the same :class:`GodelError` on every
    call (the cause is remembered, not retried per proposal)."""

    def __init__(
        self, config: LLMConfig | None = None, build: Callable[[LLMConfig], ModelPool] = make_llm
    ) -> None:
        self.config = config or LLMConfig()
        self._build = build
        self._lock = threading.Lock()
        self._pool: ModelPool | None = None
        self._error: GodelError | None = None

    @property
    def built(self) -> ModelPool | None:
        """The pool, if a part has asked for it yet."""
        return self._pool

    def __call__(self) -> ModelPool:
        with self._lock:
            if self._pool is None and self._error is None:
                try:
                    self._pool = self._build(self.config)
                except GodelError as exc:
                    self._error = exc
            if self._error is not None:
                raise self._error
            assert self._pool is not None
            return self._pool
