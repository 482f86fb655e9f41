"""Any OpenAI-compatible chat-completions endpoint: OpenAI, vLLM, Ollama, a llama.cpp server, LM Studio...

Requests go out through :mod:`godel.llm._wire` (the standard library's HTTP client, one kept-alive connection per
thread): the ``openai`` SDK costs ~0.7 s to import and milliseconds of CPU per call, most of a proposal's cost on a
fast endpoint. Only a URL that the environment routes through a proxy (``HTTPS_PROXY``...) goes through the SDK,
which speaks to proxies. Either way retries are not done by the transport: the pool retries, so every attempt is
counted, and failures map to the same :class:`EndpointError` through :class:`HttpEndpoint`.
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
from godel.llm._wire import WireClient, WireFailure, proxied

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
    """Chat completions against ``base_url``. Grammars are sent (and so honoured) only when ``grammar_field`` names
    the request field that carries them; JSON schemas only with ``structured_output``."""

    def __init__(self, config: ModelConfig) -> None:
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
        key = _resolve_key(config, self.url)
        self._wire: WireClient | None = None
        self._client: Any = None
        if proxied(self.url) or not self.url.startswith(("http://", "https://")):
            import openai

            self._client = openai.OpenAI(
                base_url=self.url, api_key=key, max_retries=0, timeout=config.timeout_seconds
            )
        else:
            self._wire = WireClient(
                self.url,
                {"authorization": f"Bearer {key}", "user-agent": "godel"},
                config.timeout_seconds,
            )

    @property
    def transport(self) -> str:
        """``"wire"`` (the standard library's keep-alive client) or ``"sdk"`` (the ``openai`` package, for proxies)."""
        return "wire" if self._wire is not None else "sdk"

    def _body(self, request: CompletionRequest) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.config.model,
            "messages": [{"role": m.role, "content": m.content} for m in request.messages],
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
        }
        if request.seed is not None:
            body["seed"] = request.seed
        if request.stop:
            body["stop"] = list(request.stop)
        if request.grammar is not None and self.config.grammar_field:
            body[self.config.grammar_field] = request.grammar
        if request.schema is not None and self.capabilities.structured:
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "godel_edit", "schema": dict(request.schema), "strict": True},
            }
        return body

    def complete(self, request: CompletionRequest) -> Completion:
        body = self._body(request)
        t0 = time.monotonic()
        if self._wire is None:
            text, finish, usage_in, usage_out = self._sdk_complete(body, t0)
        else:
            text, finish, usage_in, usage_out = self._wire_complete(body, t0)
        seconds = time.monotonic() - t0
        return Completion(
            text=text,
            model=self.name,
            tokens_in=usage_in or estimate_tokens(request.prompt_text),
            tokens_out=usage_out or estimate_tokens(text),
            seconds=seconds,
            finish_reason=finish,
        )

    def _wire_complete(self, body: dict[str, Any], t0: float) -> tuple[str, str, int, int]:
        assert self._wire is not None
        try:
            resp = self._wire.post("/chat/completions", body)
        except WireFailure as exc:
            if exc.kind == "timeout":
                raise self.http.timeout_error() from exc
            raise self.http.transport_error(exc, time.monotonic() - t0) from exc
        if resp.status >= 400:
            raise self.http.status_error(resp.status, resp.text(), resp.headers)
        try:
            doc: Any = json.loads(resp.body)
        except ValueError as exc:
            raise self.http.reply_error(
                f"HTTP {resp.status}, not JSON: {resp.text() or '(empty body)'}"
            ) from exc
        # Only the documented shape is accepted: a 200 whose body is not a chat completion is a malformed reply.
        choices = doc.get("choices") if isinstance(doc, dict) else None
        choice = choices[0] if isinstance(choices, list) and choices else None
        if not isinstance(choice, dict):
            raise self.http.reply_error(f"no choices in the reply: {resp.text()}")
        message = choice.get("message")
        content = message.get("content") if isinstance(message, dict) else None
        if content is not None and not isinstance(content, str):
            raise self.http.reply_error(f"the reply's content is not text: {resp.text()}")
        usage = doc.get("usage")
        usage = usage if isinstance(usage, dict) else {}
        return (
            content or "",
            str(choice.get("finish_reason") or "stop"),
            _int(usage.get("prompt_tokens")),
            _int(usage.get("completion_tokens")),
        )

    def _sdk_error(self, exc: Exception, seconds: float) -> EndpointError:
        import openai

        if isinstance(exc, openai.APITimeoutError):
            return self.http.timeout_error()
        if isinstance(exc, openai.APIConnectionError):
            return self.http.transport_error(exc, seconds)
        if isinstance(exc, openai.APIStatusError):
            return self.http.status_error(exc.status_code, exc.response.text, exc.response.headers)
        return self.http.reply_error(f"{type(exc).__name__}: {exc}")

    def _sdk_complete(self, body: dict[str, Any], t0: float) -> tuple[str, str, int, int]:
        import openai

        kwargs = dict(body)
        if self.config.grammar_field and self.config.grammar_field in kwargs:
            kwargs["extra_body"] = {self.config.grammar_field: kwargs.pop(self.config.grammar_field)}
        try:
            resp: Any = self._client.chat.completions.create(**kwargs)
        except (openai.OpenAIError, ValueError, json.JSONDecodeError, TypeError, AttributeError) as exc:
            raise self._sdk_error(exc, time.monotonic() - t0) from exc
        # A 200 whose body is not a chat completion (an HTML page, a bare string) comes back as whatever the
        # SDK could make of it; only the documented shape is accepted.
        choices = None if isinstance(resp, str) else getattr(resp, "choices", None)
        if not choices:
            raise self.http.reply_error(f"no choices in the reply: {resp}")
        choice = choices[0]
        text = (choice.message.content if choice.message is not None else None) or ""
        usage = getattr(resp, "usage", None)
        return (
            text,
            str(choice.finish_reason or "stop"),
            _int(getattr(usage, "prompt_tokens", 0)),
            _int(getattr(usage, "completion_tokens", 0)),
        )


def _int(value: Any) -> int:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0
