from __future__ import annotations

from typing import Literal

from pydantic import Field

from godel._model import Strict

__all__ = ["LLMConfig", "ModelConfig"]


class ModelConfig(Strict):
    """One model in ``[[llm.models]]``."""

    backend: Literal["embedded", "openai", "anthropic"] = "embedded"
    model: str = "smollm2-135m-instruct"
    base_url: str | None = None
    api_key_env: str | None = None  # name of the environment variable holding the key (never the key itself)
    weight: float = Field(1.0, gt=0)
    temperature: float = Field(0.7, ge=0, le=2)
    max_tokens: int = Field(512, ge=16)
    timeout_seconds: float = Field(120.0, gt=0)


class LLMConfig(Strict):
    """``[llm]`` in godel.toml. With no models configured, the embedded model is used."""

    models: tuple[ModelConfig, ...] = ()
