"""Any OpenAI-compatible chat-completions endpoint: OpenAI, vLLM, Ollama, a llama.cpp server, LM Studio...

Retries are not done by the SDK (``max_retries=0``): the robustness layer retries, so every attempt is counted.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping, Sequence
from typing import Any

from godel.config import ModelConfig
from godel.llm._base import Completion, Message
from godel.llm._errors import EndpointError

__all__ = ["OPENAI_URL", "OpenAICompatibleLLM", "estimate_tokens", "retry_after_seconds"]

OPENAI_URL = "https://api.openai.com/v1"


def estimate_tokens(text: str) -> int:
    """A tokenizer-free estimate (about 3.5 characters a token for code and English), rounded up."""
    return len(text) * 2 // 7 + 1


def retry_after_seconds(headers: Any) -> float | None:
    if headers is None:
        return None
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def _resolve_key(config: ModelConfig, url: str) -> str:
    env = config.api_key_env
    if env is None and config.base_url is None:
        env = "OPENAI_API_KEY"  # the real OpenAI API always needs a key
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


class OpenAICompatibleLLM:
    """Chat completions through the ``openai`` SDK against ``base_url``."""

    local = False

    def __init__(self, config: ModelConfig) -> None:
        import openai

        self.config = config
        self.name = config.label
        self.url = (config.base_url or OPENAI_URL).rstrip("/")
        self.supports_grammar = config.grammar_field is not None
        self.supports_structured = config.structured_output
        self._client = openai.OpenAI(
            base_url=self.url,
            api_key=_resolve_key(config, self.url),
            max_retries=0,
            timeout=config.timeout_seconds,
        )

    def _error(self, exc: Exception) -> EndpointError:
        import openai

        where = f"{self.url} (model {self.config.model!r})"
        if isinstance(exc, openai.APITimeoutError):
            return EndpointError(
                f"{self.name}: request timed out after {self.config.timeout_seconds:g} s at {where}",
                hint="raise timeout_seconds, or check the server is not overloaded",
                model=self.name,
                retryable=True,
            )
        if isinstance(exc, openai.APIConnectionError):
            cause = exc.__cause__ or exc
            return EndpointError(
                f"{self.name}: cannot reach {self.url}: {cause}",
                hint="start the server or fix base_url (it usually ends in /v1)",
                model=self.name,
            )
        if isinstance(exc, openai.APIStatusError):
            status = exc.status_code
            body = _short(exc.response.text if exc.response is not None else str(exc))
            if status in (401, 403):
                env = self.config.api_key_env or ("OPENAI_API_KEY" if self.config.base_url is None else None)
                source = f"the key in ${env}" if env else "no key (api_key_env is unset)"
                return EndpointError(
                    f"{self.name}: {self.url} rejected {source} (HTTP {status}): {body}",
                    hint=f"check ${env}" if env else "set api_key_env to the variable holding the key",
                    model=self.name,
                    permanent=True,
                    status=status,
                )
            if status == 404:
                return EndpointError(
                    f"{self.name}: model {self.config.model!r} not found at {self.url} (HTTP 404): {body}",
                    hint="check the model name (GET /v1/models lists them) and that base_url ends in /v1",
                    model=self.name,
                    permanent=True,
                    status=status,
                )
            if status == 429 or status >= 500:
                return EndpointError(
                    f"{self.name}: HTTP {status} from {self.url}: {body}",
                    model=self.name,
                    retryable=True,
                    status=status,
                    retry_after=retry_after_seconds(
                        exc.response.headers if exc.response is not None else None
                    ),
                )
            return EndpointError(
                f"{self.name}: HTTP {status} from {where}: {body}",
                hint="the request was refused; check max_tokens and the model's context size",
                model=self.name,
                status=status,
            )
        return EndpointError(
            f"{self.name}: malformed reply from {self.url}: {type(exc).__name__}: {_short(str(exc))}",
            hint="is base_url an OpenAI-compatible /v1 endpoint?",
            model=self.name,
        )

    def complete(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int = 512,
        temperature: float = 0.7,
        seed: int | None = None,
        grammar: str | None = None,
        stop: Sequence[str] = (),
        schema: Mapping[str, Any] | None = None,
    ) -> Completion:
        import openai

        kwargs: dict[str, Any] = {
            "model": self.config.model,
            "messages": [{"role": m.role, "content": m.content} for m in messages],
            "max_tokens": max_tokens,
            "temperature": temperature,
        }
        if seed is not None:
            kwargs["seed"] = seed
        if stop:
            kwargs["stop"] = list(stop)
        if grammar is not None and self.config.grammar_field:
            kwargs["extra_body"] = {self.config.grammar_field: grammar}
        if schema is not None and self.supports_structured:
            kwargs["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "godel_edit", "schema": dict(schema), "strict": True},
            }
        t0 = time.monotonic()
        try:
            resp: Any = self._client.chat.completions.create(**kwargs)
        except openai.OpenAIError as exc:
            raise self._error(exc) from exc
        except (ValueError, json.JSONDecodeError, TypeError, AttributeError) as exc:
            raise self._error(exc) from exc
        seconds = time.monotonic() - t0
        if isinstance(resp, str) or not getattr(resp, "choices", None):
            raise EndpointError(
                f"{self.name}: reply from {self.url} has no choices: {_short(str(resp))}",
                hint="is base_url an OpenAI-compatible /v1 endpoint?",
                model=self.name,
            )
        choice = resp.choices[0]
        text = (choice.message.content if choice.message is not None else None) or ""
        usage = getattr(resp, "usage", None)
        prompt_chars = sum(len(m.content) for m in messages)
        return Completion(
            text=text,
            model=self.name,
            tokens_in=int(getattr(usage, "prompt_tokens", 0) or estimate_tokens("x" * prompt_chars)),
            tokens_out=int(getattr(usage, "completion_tokens", 0) or estimate_tokens(text)),
            seconds=seconds,
            finish_reason=str(choice.finish_reason or "stop"),
        )


def _short(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "..."
