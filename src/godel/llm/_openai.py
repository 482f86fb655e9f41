"""Any OpenAI-compatible chat-completions endpoint: OpenAI, vLLM, Ollama, a llama.cpp server, LM Studio...

Retries are not done by the SDK (``max_retries=0``): the pool retries, so every attempt is counted.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

from godel.config import ModelConfig
from godel.llm._base import LLM, Capabilities, Completion, CompletionRequest, estimate_tokens
from godel.llm._errors import EndpointError
from godel.llm._http import HttpEndpoint

__all__ = ["OPENAI_URL", "OpenAICompatibleLLM"]

OPENAI_URL = "https://api.openai.com/v1"


def _key_env(config: ModelConfig) -> str | None:
    if config.api_key_env is None and config.base_url is None:
        return "OPENAI_API_KEY"  # the real OpenAI API always needs a key
    return config.api_key_env


def _resolve_key(config: ModelConfig, url: str) -> str:
    env = _key_env(config)
    if env is None:
        return "not-needed"  # local servers (vLLM, Ollama, llama.cpp) accept any key
    key = os.environ.get(env, "")
    if not key:
        raise EndpointError(
            f"model {config.label}: the environment variable {env} holding the API key for {url} is not set",
            hint=f"export {env}=... (or set api_key_env to the variable that holds the key)",
            model=config.label,
            permanent=True,
        )
    return key


class OpenAICompatibleLLM(LLM):
    """Chat completions through the ``openai`` SDK against ``base_url``. Grammars are sent (and so honoured)
    only when ``grammar_field`` names the request field that carries them; JSON schemas only with
    ``structured_output``."""

    def __init__(self, config: ModelConfig) -> None:
        import openai

        self.config = config
        self.name = config.label
        self.url = (config.base_url or OPENAI_URL).rstrip("/")
        self.capabilities = Capabilities(
            grammar=config.grammar_field is not None, structured=config.structured_output
        )
        env = _key_env(config)
        self.http = HttpEndpoint(
            name=self.name,
            url=self.url,
            model=config.model,
            timeout=config.timeout_seconds,
            key_source=f"the key in ${env}" if env else "no key (api_key_env is unset)",
            key_hint=f"check ${env}" if env else "set api_key_env to the variable holding the key",
            not_found_hint="check the model name (GET /v1/models lists them) and that base_url ends in /v1",
            reply_hint="is base_url an OpenAI-compatible /v1 endpoint?",
        )
        self._client = openai.OpenAI(
            base_url=self.url,
            api_key=_resolve_key(config, self.url),
            max_retries=0,
            timeout=config.timeout_seconds,
        )

    def _error(self, exc: Exception, seconds: float) -> EndpointError:
        import openai

        if isinstance(exc, openai.APITimeoutError):
            return self.http.timeout_error()
        if isinstance(exc, openai.APIConnectionError):
            return self.http.transport_error(exc, seconds)
        if isinstance(exc, openai.APIStatusError):
            return self.http.status_error(exc.status_code, exc.response.text, exc.response.headers)
        return self.http.reply_error(f"{type(exc).__name__}: {exc}")

    def complete(self, request: CompletionRequest) -> Completion:
        import openai

        kwargs: dict[str, Any] = {
            "model": self.config.model,
            "messages": [{"role": m.role, "content": m.content} for m in request.messages],
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
        }
        if request.seed is not None:
            kwargs["seed"] = request.seed
        if request.stop:
            kwargs["stop"] = list(request.stop)
        if request.grammar is not None and self.config.grammar_field:
            kwargs["extra_body"] = {self.config.grammar_field: request.grammar}
        if request.schema is not None and self.capabilities.structured:
            kwargs["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "godel_edit", "schema": dict(request.schema), "strict": True},
            }
        t0 = time.monotonic()
        try:
            resp: Any = self._client.chat.completions.create(**kwargs)
        except (openai.OpenAIError, ValueError, json.JSONDecodeError, TypeError, AttributeError) as exc:
            raise self._error(exc, time.monotonic() - t0) from exc
        seconds = time.monotonic() - t0
        # A 200 whose body is not a chat completion (an HTML page, a bare string) comes back as whatever the
        # SDK could make of it; only the documented shape is accepted.
        choices = None if isinstance(resp, str) else getattr(resp, "choices", None)
        if not choices:
            raise self.http.reply_error(f"no choices in the reply: {resp}")
        choice = choices[0]
        text = (choice.message.content if choice.message is not None else None) or ""
        usage = getattr(resp, "usage", None)
        return Completion(
            text=text,
            model=self.name,
            tokens_in=int(getattr(usage, "prompt_tokens", 0) or estimate_tokens(request.prompt_text)),
            tokens_out=int(getattr(usage, "completion_tokens", 0) or estimate_tokens(text)),
            seconds=seconds,
            finish_reason=str(choice.finish_reason or "stop"),
        )
