"""The model pool: one or more models behind the ``LLM`` interface, made robust.

Per call: pick a model (weights, UCB bandit or fixed order), answer from the on-disk cache when the same request was
made before, check the hard cost/token caps against the call's worst case, wait for the model's client-side rate
limit, call it with retries (exponential backoff with jitter, on 429/5xx/timeouts only), and on failure count it
against the model's circuit breaker and fail over to the next model. Every retry, skip and failover is a note: on
the :class:`Completion` (``notes``) when a model answered, on the raised :class:`PoolError` or
:class:`PoolBudgetExhausted` when none did, so the proposal records it either way.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import tenacity

from godel.config import LLMConfig, ModelConfig
from godel.errors import LLMError
from godel.llm._base import LLM, Capabilities, Completion, CompletionRequest, Pool, estimate_tokens
from godel.llm._cache import ResponseCache, cache_key
from godel.llm._errors import EndpointError, PoolBudgetExhausted, PoolError
from godel.llm._limits import Bandit, CircuitBreaker, RateLimiter

__all__ = ["ModelPool", "ModelStats"]


@dataclass
class ModelStats:
    requests: int = 0  # HTTP requests / decodes actually made (retries included)
    ok: int = 0
    failures: int = 0  # calls that failed after their retries
    retries: int = 0
    cache_hits: int = 0
    skipped: int = 0  # calls not made: breaker open or over budget
    tokens_in: int = 0
    tokens_out: int = 0
    cost: float = 0.0
    seconds: float = 0.0
    errors: Counter[str] = field(default_factory=Counter)
    last_error: str | None = None


class _Member:
    def __init__(
        self, config: ModelConfig, llm: LLM | None, error: EndpointError | None, pool: ModelPool
    ) -> None:
        self.config = config
        self.label = config.label
        self.llm = llm
        self.limiter = RateLimiter(config.rpm, config.tpm, clock=pool.clock, sleep=pool.sleep)
        self.breaker = CircuitBreaker(
            pool.config.breaker_failures, pool.config.breaker_cooldown_seconds, clock=pool.clock
        )
        self.stats = ModelStats()
        if error is not None:
            self.breaker.failure(permanent=str(error))
            self.stats.errors[error.kind] += 1
            self.stats.last_error = str(error)

    def price(self, tokens_in: int, tokens_out: int) -> float:
        return tokens_in * self.config.cost_per_1k_in / 1000 + tokens_out * self.config.cost_per_1k_out / 1000


class ModelPool(Pool):
    """A :class:`~godel.llm.Pool` over the configured models. ``name`` is the first model's label;
    ``capabilities`` are what every model that could be set up promises."""

    def __init__(
        self,
        config: LLMConfig,
        members: Sequence[tuple[ModelConfig, LLM | EndpointError]],
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        cache: ResponseCache | None = None,
    ) -> None:
        if not members:
            raise LLMError("a model pool needs at least one model")
        self.config = config
        self.clock = clock
        self.sleep = sleep
        self.cache = cache
        self._members = [
            _Member(
                mc,
                None if isinstance(b, EndpointError) else b,
                b if isinstance(b, EndpointError) else None,
                self,
            )
            for mc, b in members
        ]
        self.name = self._members[0].label
        self.capabilities = Capabilities.common(tuple(m.llm.capabilities for m in self._members if m.llm))
        self.bandit = Bandit([m.label for m in self._members], c=config.ucb_c)
        self._lock = threading.Lock()
        self._rng = random.Random(0)
        self._jitter = random.Random()
        self.spent = 0.0
        self.tokens = 0
        self._reserved_cost = 0.0
        self._reserved_tokens = 0
        # The size of the latest prompt: a run's prompts are alike, so "can another call fit?" is asked of one this
        # size (asking it of a one-token prompt said yes long after every real call was refused).
        self._prompt_tokens = 1

    @classmethod
    def wrap(cls, llm: LLM, model: ModelConfig | None = None, config: LLMConfig | None = None) -> ModelPool:
        """A pool of one backend built outside :func:`godel.llm.make_llm`: ``model`` holds its prices, limits,
        retries and defaults (default: a model labelled ``llm.name`` with the default settings), ``config`` the
        pool's (default: no cache)."""
        model = model or ModelConfig(name=llm.name)
        return cls(config or LLMConfig(models=(model,), cache=False), [(model, llm)])

    # -- what the proposer uses (the Pool protocol) ----------------------------------------------------------------

    @property
    def models(self) -> list[str]:
        return [m.label for m in self._members]

    @property
    def local(self) -> bool:
        live = [m for m in self._members if m.llm is not None]
        return bool(live) and all(m.config.local for m in live)

    @property
    def max_tokens(self) -> int:
        return self._members[0].config.max_tokens

    @property
    def temperature(self) -> float:
        return self._members[0].config.temperature

    @property
    def attempts(self) -> int | None:
        return self.config.attempts

    @property
    def exhausted(self) -> bool:
        """True once no model can make another call within the cost or token cap."""
        size = self._prompt_tokens
        return all(
            self._over_budget(m, size, m.config.max_tokens) is not None for m in self._members if m.llm
        )

    # -- selection -----------------------------------------------------------------------------------------------

    def _order(self, seed: int | None) -> list[_Member]:
        usable = [m for m in self._members if m.llm is not None and m.breaker.state != "disabled"]
        healthy = [m for m in usable if m.breaker.state != "open"]
        rest = [m for m in usable if m not in healthy]
        if self.config.selection == "ordered" or len(healthy) <= 1:
            first = healthy
        elif self.config.selection == "ucb":
            ranked = self.bandit.ranking([m.label for m in healthy])
            first = sorted(healthy, key=lambda m: ranked.index(m.label))
        else:
            rng = random.Random(seed) if seed is not None else self._rng
            pick = rng.choices(healthy, weights=[m.config.weight for m in healthy])[0]
            first = [pick] + [m for m in healthy if m is not pick]
        order = first + rest
        return order if self.config.failover else order[:1]

    # -- budget --------------------------------------------------------------------------------------------------

    def _over_budget(self, m: _Member, tokens_in: int, max_tokens: int) -> str | None:
        cfg = self.config
        worst_cost = m.price(tokens_in, max_tokens)
        worst_tokens = tokens_in + max_tokens
        with self._lock:
            if (
                cfg.max_cost is not None
                and worst_cost > 0
                and self.spent + self._reserved_cost + worst_cost > cfg.max_cost
            ):
                return (
                    f"cost cap llm.max_cost={cfg.max_cost:g} reached: spent {self.spent:.4f}, a call to {m.label} "
                    f"may cost up to {worst_cost:.4f}"
                )
            if (
                cfg.max_tokens is not None
                and self.tokens + self._reserved_tokens + worst_tokens > cfg.max_tokens
            ):
                return (
                    f"token cap llm.max_tokens={cfg.max_tokens} reached: used {self.tokens}, a call may use up to "
                    f"{worst_tokens}"
                )
        return None

    # -- calls ---------------------------------------------------------------------------------------------------

    def _wait(self, state: tenacity.RetryCallState) -> float:
        # Exponential backoff with full jitter on top (tenacity's helper renamed its arguments between versions).
        first = self.config.retry_base_seconds
        growth: float = first * 2.0 ** (state.attempt_number - 1)
        base = min(self.config.retry_max_seconds, growth + self._jitter.uniform(0, first))
        exc = state.outcome.exception() if state.outcome is not None else None
        if isinstance(exc, EndpointError) and exc.retry_after is not None:
            return max(base, min(exc.retry_after, self.config.retry_max_seconds))
        return base

    def _attempt(self, m: _Member, request: CompletionRequest, estimate: int) -> Completion:
        assert m.llm is not None
        from godel.telemetry import Telemetry, genai_usage, llm_span

        entry = m.limiter.acquire(estimate)
        with self._lock:
            m.stats.requests += 1
        system = {"embedded": "llama.cpp", "anthropic": "anthropic"}.get(m.config.backend, "openai")
        t0 = time.monotonic()
        # One span (GenAI semantic conventions) and one metrics sample per request, failed ones included.
        with llm_span(
            system, m.config.model, max_tokens=request.max_tokens, temperature=request.temperature
        ) as span:
            try:
                out = m.llm.complete(request)
            except EndpointError as exc:
                m.limiter.settle(entry, estimate)
                Telemetry().llm_call(m.label, 0, 0, time.monotonic() - t0, exc.kind, system=system)
                raise
            except LLMError as exc:  # a backend outside this package: a non-retryable endpoint failure
                m.limiter.settle(entry, estimate)
                Telemetry().llm_call(m.label, 0, 0, time.monotonic() - t0, exc, system=system)
                raise EndpointError(str(exc), model=m.label) from exc
            span.set_attributes(genai_usage(input_tokens=out.tokens_in, output_tokens=out.tokens_out))
        Telemetry().llm_call(m.label, out.tokens_in, out.tokens_out, out.seconds, None, system=system)
        m.limiter.settle(entry, out.tokens_in + out.tokens_out)
        return out

    def _call(self, m: _Member, request: CompletionRequest, estimate: int, notes: list[str]) -> Completion:
        def before_sleep(state: tenacity.RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome is not None else None
            kind = exc.kind if isinstance(exc, EndpointError) else type(exc).__name__
            with self._lock:
                m.stats.retries += 1
                m.stats.errors[kind] += 1
            wait = state.next_action.sleep if state.next_action is not None else 0.0
            notes.append(f"{m.label}: {kind}, retry {state.attempt_number} in {wait:.2f} s")

        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(m.config.max_retries + 1),
            wait=self._wait,
            retry=tenacity.retry_if_exception(lambda e: isinstance(e, EndpointError) and e.retryable),
            sleep=self.sleep,
            before_sleep=before_sleep,
            reraise=True,
        )
        return retrying(self._attempt, m, request, estimate)

    def complete(self, request: CompletionRequest) -> Completion:
        """The first answer of the models in order; its ``notes`` list the retries, skips and failovers."""
        notes: list[str] = []
        failures: list[str] = []
        budget_reasons: list[str] = []
        estimate_in = estimate_tokens(request.prompt_text)
        self._prompt_tokens = estimate_in
        seed, max_tokens = request.seed, request.max_tokens
        order = self._order(seed)
        disabled = [m.breaker.permanent for m in self._members if m not in order and m.breaker.permanent]
        for m in order:
            key = None
            if self.cache is not None and (seed is not None or request.temperature == 0):
                key = cache_key((m.config.backend, m.config.model, m.config.base_url or "", m.label), request)
                hit = self.cache.get(key)
                if hit is not None:
                    with self._lock:
                        m.stats.cache_hits += 1
                    return replace(hit, notes=tuple(notes))
            over = self._over_budget(m, estimate_in, max_tokens)
            if over is not None:
                with self._lock:
                    m.stats.skipped += 1
                budget_reasons.append(over)
                notes.append(f"{m.label}: skipped, {over}")
                continue
            if not m.breaker.allow():
                with self._lock:
                    m.stats.skipped += 1
                msg = f"{m.label}: paused by its circuit breaker for {m.breaker.retry_in():.0f} s more"
                failures.append(msg)
                notes.append(msg)
                continue
            worst = m.price(estimate_in, max_tokens)
            with self._lock:
                self._reserved_cost += worst
                self._reserved_tokens += estimate_in + max_tokens
            try:
                out = self._call(m, request, estimate_in + max_tokens, notes)
            except EndpointError as exc:
                m.breaker.failure(permanent=str(exc) if exc.permanent else None)
                with self._lock:
                    m.stats.failures += 1
                    m.stats.errors[exc.kind] += 1
                    m.stats.last_error = str(exc)
                failures.append(str(exc))
                state = m.breaker.state
                paused = (
                    " (model disabled for this run)"
                    if state == "disabled"
                    else (" (circuit breaker opened)" if state == "open" else "")
                )
                notes.append(f"{m.label}: failed: {exc}{paused}")
                continue
            finally:
                with self._lock:
                    self._reserved_cost -= worst
                    self._reserved_tokens -= estimate_in + max_tokens
            m.breaker.success()
            cost = m.price(out.tokens_in, out.tokens_out)
            with self._lock:
                m.stats.ok += 1
                m.stats.tokens_in += out.tokens_in
                m.stats.tokens_out += out.tokens_out
                m.stats.cost += cost
                m.stats.seconds += out.seconds
                self.spent += cost
                self.tokens += out.tokens_in + out.tokens_out
            result = Completion(
                text=out.text,
                model=m.label,
                tokens_in=out.tokens_in,
                tokens_out=out.tokens_out,
                seconds=out.seconds,
                cost=cost,
                finish_reason=out.finish_reason,
            )
            if key is not None and self.cache is not None and out.finish_reason != "error":
                self.cache.put(key, result)
            if failures:
                notes.append(f"failed over to {m.label}")
            return replace(result, notes=tuple(notes))
        if budget_reasons and not failures:
            raise PoolBudgetExhausted(
                budget_reasons[0],
                hint="raise llm.max_cost / llm.max_tokens, or add a free model",
                notes=notes,
            )
        failures += [f"disabled: {d}" for d in disabled if d]
        if not failures:
            failures = ["no model is configured or every model is disabled"]
        raise PoolError("no model could answer: " + "; ".join(failures), notes=notes)

    # -- feedback and accounting ---------------------------------------------------------------------------------

    def report(self, model: str, improvement: float, cost: float) -> None:
        """A proposal from ``model`` was evaluated (see :meth:`godel.llm.Pool.report`). Feeds the UCB bandit
        (used when ``llm.selection = "ucb"``)."""
        self.bandit.report(model, improvement, cost)

    def stats(self) -> dict[str, Any]:
        with self._lock:
            per_model = {
                m.label: {
                    "requests": m.stats.requests,
                    "ok": m.stats.ok,
                    "failures": m.stats.failures,
                    "retries": m.stats.retries,
                    "cache_hits": m.stats.cache_hits,
                    "skipped": m.stats.skipped,
                    "tokens_in": m.stats.tokens_in,
                    "tokens_out": m.stats.tokens_out,
                    "cost": round(m.stats.cost, 6),
                    "seconds": round(m.stats.seconds, 3),
                    "errors": dict(m.stats.errors),
                    "last_error": m.stats.last_error,
                    "breaker": m.breaker.state,
                    "rate_limit_wait_seconds": round(m.limiter.waited, 3),
                }
                for m in self._members
            }
            return {
                "models": per_model,
                "spent": round(self.spent, 6),
                "tokens": self.tokens,
                "bandit": self.bandit.snapshot(),
            }
