"""Anthropic's Messages API (optional extra ``godel[anthropic]``; the SDK is imported only when configured)."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from typing import Any

from godel.config import ModelConfig
from godel.llm._base import Completion, Message
from godel.llm._errors import EndpointError
from godel.llm._openai import retry_after_seconds

__all__ = ["AnthropicLLM"]


class AnthropicLLM:
    supports_grammar = False
    local = False

    def __init__(self, config: ModelConfig) -> None:
        try:
            import anthropic
        except ImportError as exc:
            raise EndpointError(
                f"model {config.label} uses the anthropic backend, but the anthropic package is not installed",
                hint="pip install 'godel[anthropic]'",
                model=config.label,
                permanent=True,
            ) from exc
        self.config = config
        self.name = config.label
        env = config.api_key_env or "ANTHROPIC_API_KEY"
        self.env = env
        key = os.environ.get(env, "")
        if not key:
            raise EndpointError(
                f"model {config.label}: the environment variable {env} holding the Anthropic API key is not set",
                hint=f"export {env}=...",
                model=config.label,
                permanent=True,
            )
        self.url = config.base_url or "https://api.anthropic.com"
        self._client = anthropic.Anthropic(
            api_key=key, base_url=config.base_url, max_retries=0, timeout=config.timeout_seconds
        )

    def _error(self, exc: Exception) -> EndpointError:
        import anthropic

        if isinstance(exc, anthropic.APITimeoutError):
            return EndpointError(
                f"{self.name}: request timed out after {self.config.timeout_seconds:g} s at {self.url}",
                model=self.name,
                retryable=True,
            )
        if isinstance(exc, anthropic.APIConnectionError):
            return EndpointError(f"{self.name}: cannot reach {self.url}: {exc}", model=self.name)
        if isinstance(exc, anthropic.APIStatusError):
            status = exc.status_code
            if status in (401, 403):
                return EndpointError(
                    f"{self.name}: {self.url} rejected the key in ${self.env} (HTTP {status})",
                    hint=f"check ${self.env}",
                    model=self.name,
                    permanent=True,
                    status=status,
                )
            if status == 404:
                return EndpointError(
                    f"{self.name}: model {self.config.model!r} not found at {self.url} (HTTP 404)",
                    hint="check the model name",
                    model=self.name,
                    permanent=True,
                    status=status,
                )
            retryable = status in (429, 529) or status >= 500
            return EndpointError(
                f"{self.name}: HTTP {status} from {self.url}: {exc.message}",
                model=self.name,
                retryable=retryable,
                status=status,
                retry_after=retry_after_seconds(exc.response.headers) if retryable else None,
            )
        return EndpointError(f"{self.name}: malformed reply from {self.url}: {exc}", model=self.name)

    def complete(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int = 512,
        temperature: float = 0.7,
        seed: int | None = None,
        grammar: str | None = None,
        stop: Sequence[str] = (),
        schema: Mapping[str, Any] | None = None,  # no structured outputs here: ignored
    ) -> Completion:
        import anthropic

        system = "\n\n".join(m.content for m in messages if m.role == "system")
        chat = [{"role": m.role, "content": m.content} for m in messages if m.role != "system"]
        kwargs: dict[str, Any] = {
            "model": self.config.model,
            "messages": chat,
            "max_tokens": max_tokens,
            "temperature": min(temperature, 1.0),
        }
        if system:
            kwargs["system"] = system
        if stop:
            kwargs["stop_sequences"] = list(stop)
        t0 = time.monotonic()
        try:
            resp: Any = self._client.messages.create(**kwargs)
        except anthropic.AnthropicError as exc:
            raise self._error(exc) from exc
        text = "".join(getattr(block, "text", "") for block in resp.content)
        return Completion(
            text=text,
            model=self.name,
            tokens_in=int(resp.usage.input_tokens),
            tokens_out=int(resp.usage.output_tokens),
            seconds=time.monotonic() - t0,
            finish_reason=str(resp.stop_reason or "stop"),
        )
