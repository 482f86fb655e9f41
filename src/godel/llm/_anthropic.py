"""Anthropic's Messages API (optional extra ``godel[anthropic]``; the SDK is imported only when configured).

No grammars and no seed in this API, and no structured outputs through this backend: a request's ``grammar``,
``schema`` and ``seed`` are ignored. Nor is ``temperature`` sent: the Messages API deprecated it (newer models refuse
a request carrying it with HTTP 400, and the SDK no longer takes it), so the model samples at its own default.
Retries are left to the pool (``max_retries=0``).
"""

from __future__ import annotations

import os
import time
from typing import Any

from godel.config import ModelConfig
from godel.llm._base import LLM, Capabilities, Completion, CompletionRequest
from godel.llm._errors import EndpointError
from godel.llm._http import HttpEndpoint

__all__ = ["ANTHROPIC_URL", "AnthropicLLM"]

ANTHROPIC_URL = "https://api.anthropic.com"

# The Messages API's stop reasons in the vocabulary of Completion.finish_reason.
_FINISH = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length"}


class AnthropicLLM(LLM):
    capabilities = Capabilities()

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
        key = os.environ.get(env, "")
        if not key:
            raise EndpointError(
                f"model {config.label}: the environment variable {env} holding the Anthropic API key is not set",
                hint=f"export {env}=...",
                model=config.label,
                permanent=True,
            )
        self.url = (config.base_url or ANTHROPIC_URL).rstrip("/")
        self.http = HttpEndpoint(
            name=self.name,
            url=self.url,
            model=config.model,
            timeout=config.timeout_seconds,
            key_source=f"the key in ${env}",
            key_hint=f"check ${env}",
            not_found_hint="check the model name",
            reply_hint="is base_url the Anthropic API (without /v1)?",
            unreachable_hint="check base_url and the network",
            retry_statuses=frozenset({429, 529}),  # 529: overloaded
        )
        self._client = anthropic.Anthropic(
            api_key=key, base_url=config.base_url, max_retries=0, timeout=config.timeout_seconds
        )

    def _error(self, exc: Exception, seconds: float) -> EndpointError:
        import anthropic

        if isinstance(exc, anthropic.APITimeoutError):
            return self.http.timeout_error()
        if isinstance(exc, anthropic.APIConnectionError):
            return self.http.transport_error(exc, seconds)
        if isinstance(exc, anthropic.APIStatusError):
            return self.http.status_error(exc.status_code, exc.response.text, exc.response.headers)
        return self.http.reply_error(f"{type(exc).__name__}: {exc}")

    def complete(self, request: CompletionRequest) -> Completion:
        import anthropic

        system = "\n\n".join(m.content for m in request.messages if m.role == "system")
        chat = [{"role": m.role, "content": m.content} for m in request.messages if m.role != "system"]
        kwargs: dict[str, Any] = {
            "model": self.config.model,
            "messages": chat,
            "max_tokens": request.max_tokens,
        }
        if system:
            kwargs["system"] = system
        if request.stop:
            kwargs["stop_sequences"] = list(request.stop)
        t0 = time.monotonic()
        try:
            resp: Any = self._client.messages.create(**kwargs)
            text = "".join(block.text for block in resp.content if block.type == "text")
            usage = (int(resp.usage.input_tokens), int(resp.usage.output_tokens))
        except (anthropic.AnthropicError, ValueError, TypeError, AttributeError) as exc:
            raise self._error(exc, time.monotonic() - t0) from exc
        reason = str(resp.stop_reason or "end_turn")
        return Completion(
            text=text,
            model=self.name,
            tokens_in=usage[0],
            tokens_out=usage[1],
            seconds=time.monotonic() - t0,
            finish_reason=_FINISH.get(reason, reason),
        )
