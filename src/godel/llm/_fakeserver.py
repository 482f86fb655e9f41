"""Local HTTP servers speaking the OpenAI chat-completions and the Anthropic Messages protocol, with failure
injection, for tests and benchmarks (exported by :mod:`godel.llm.testing`).

Each request gets a behaviour: the next one from ``script`` if any is left, else a failure drawn with probability
``failure_rate`` from ``failures`` (seeded), else ``ok``. Behaviours:

* ``ok``: the reply (``reply``, a string or a function of the request body), cut at the first ``stop`` sequence
  and at ``max_tokens`` (a token is four characters here) with the protocol's finish reason;
* ``400``, ``429`` (with ``Retry-After: 0``), ``500``, ``503``, ``529``: that status with the protocol's error body;
* ``slow``: answers after ``slow_seconds``;
* ``hangup``: accepts the request, waits ``slow_seconds`` and closes the connection without a reply;
* ``drop``: closes the connection as soon as the request is read;
* ``empty`` (200 with no body), ``garbage`` (200 with non-JSON), ``nochoices`` (200 without the reply's content).

A request for another model than ``model`` gets 404 and a wrong key (when ``api_key`` is set) gets 401. Every
request is logged in ``log``. The chat server also honours what a llama.cpp server or a structured-outputs endpoint
would, when asked to: a grammar in the request field ``grammar_field`` made of string alternatives
(``root ::= "yes" | "no"``; the seed picks one; any other grammar is a 400), and with ``honour_schema`` a JSON
schema in ``response_format`` (the reply becomes a minimal instance of it, its strings filled with the reply).
"""

from __future__ import annotations

import abc
import contextlib
import json
import random
import re
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar, Self

__all__ = ["FakeChatServer", "FakeMessagesServer", "FakeServer", "Request"]

Reply = Callable[[dict[str, Any]], str]

_LITERAL = r'"((?:[^"\\]|\\.)*)"'
_ALTERNATIVES = re.compile(rf"\s*root\s*::=\s*{_LITERAL}(?:\s*\|\s*{_LITERAL})*\s*")


@dataclass(frozen=True)
class Request:
    behaviour: str
    status: int
    model: str
    body: dict[str, Any]


@dataclass(frozen=True)
class _Asked:
    """What a request asks of the reply, in any protocol."""

    max_tokens: int | None
    stop: tuple[str, ...]
    prompt_chars: int


class _Refused(Exception):
    """A request the fake cannot honour: answered with ``status`` and ``message``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _tokens(text: str) -> int:
    return -(-len(text) // 4)


def _literal_alternatives(grammar: str) -> list[str] | None:
    if _ALTERNATIVES.fullmatch(grammar) is None:
        return None
    return [json.loads(f'"{m}"') for m in re.findall(_LITERAL, grammar)]


def _instance(schema: Any, text: str) -> Any:
    """A minimal value that satisfies ``schema`` (the subset of JSON schema structured outputs use)."""
    if not isinstance(schema, dict):
        return text
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = kind[0] if kind else None
    if kind == "object":
        props = schema.get("properties", {})
        return {k: _instance(props.get(k, {}), text) for k in schema.get("required", [])}
    if kind == "array":
        return [
            _instance(schema.get("items", {}), text) for _ in range(max(1, int(schema.get("minItems", 1))))
        ]
    return {"integer": 0, "number": 0.0, "boolean": False, "null": None}.get(str(kind), text)


class FakeServer(abc.ABC):
    """The machinery both protocols share: behaviours, the log, the HTTP server on 127.0.0.1. A protocol
    defines how a request is authorised and read, and how a reply and an error are written."""

    route = ""  # the POST path's ending
    url_suffix = ""

    def __init__(
        self,
        reply: str | Reply = "hello",
        *,
        model: str = "fake-model",
        api_key: str | None = None,
        failure_rate: float = 0.0,
        failures: Iterable[str] = ("429", "500", "slow", "empty", "garbage"),
        script: Iterable[str] = (),
        slow_seconds: float = 2.0,
        seed: int = 0,
    ) -> None:
        self.reply = reply
        self.model = model
        self.api_key = api_key
        self.failure_rate = failure_rate
        self.failures = tuple(failures)
        self.script: deque[str] = deque(script)
        self.slow_seconds = slow_seconds
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self.log: list[Request] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def setup(self) -> None:
                super().setup()
                # Headers and body go out as two writes: without this, Nagle's algorithm holds the body until
                # the client's delayed ACK, some 40 ms a request.
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def do_GET(self) -> None:
                if self.path.rstrip("/").endswith("/models"):
                    self._json(200, {"object": "list", "data": [{"id": server.model, "object": "model"}]})
                else:
                    self._json(404, server._error_doc(404, f"no route {self.path}"))

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length)
                try:
                    body = json.loads(raw or b"{}")
                except json.JSONDecodeError:
                    body = {}
                if not self.path.rstrip("/").endswith(server.route):
                    self._json(404, server._error_doc(404, f"no route {self.path}"))
                    return
                server._handle(self, body if isinstance(body, dict) else {})

            def _json(self, status: int, doc: Any, headers: dict[str, str] | None = None) -> None:
                self._raw(status, json.dumps(doc).encode(), headers)

            def _raw(self, status: int, data: bytes, headers: dict[str, str] | None = None) -> None:
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                # The client may have given up (a timeout test): then there is nobody to answer.
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(data)

            def _hang_up(self) -> None:
                self.close_connection = True
                self.connection.close()

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        # A short poll interval: shutdown() waits for it, and tests open and close many servers.
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,), daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}{self.url_suffix}"

    def behaviours(self) -> list[str]:
        with self._lock:
            return [r.behaviour for r in self.log]

    def _next(self) -> str:
        with self._lock:
            if self.script:
                return self.script.popleft()
            if self.failure_rate and self._rng.random() < self.failure_rate:
                return self._rng.choice(self.failures)
            return "ok"

    def _record(self, behaviour: str, status: int, model: str, body: dict[str, Any]) -> None:
        with self._lock:
            self.log.append(Request(behaviour, status, model, body))

    # -- what each protocol defines ------------------------------------------------------------------------------

    @abc.abstractmethod
    def _authorised(self, headers: Any) -> bool: ...

    @abc.abstractmethod
    def _error_doc(self, status: int, message: str) -> dict[str, Any]: ...

    @abc.abstractmethod
    def _asked(self, body: dict[str, Any]) -> _Asked: ...

    @abc.abstractmethod
    def _reply_doc(
        self, n: int, model: str, text: str, stopped: str | None, cut: bool, asked: _Asked, bare: bool
    ) -> dict[str, Any]: ...

    def _text(self, body: dict[str, Any]) -> str:
        """The reply's text before stop sequences and ``max_tokens``; raises :class:`_Refused` for a request
        the fake cannot honour."""
        return self.reply(body) if callable(self.reply) else self.reply

    # -- one request ---------------------------------------------------------------------------------------------

    def _handle(self, h: Any, body: dict[str, Any]) -> None:
        model = str(body.get("model", ""))

        def fail(behaviour: str, status: int, message: str, headers: dict[str, str] | None = None) -> None:
            self._record(behaviour, status, model, body)
            h._json(status, self._error_doc(status, message), headers)

        if not self._authorised(h.headers):
            return fail("401", 401, "invalid api key")
        if model != self.model:
            return fail("404", 404, f"model {model!r} does not exist")
        behaviour = self._next()
        if behaviour == "400":
            return fail(behaviour, 400, "bad request")
        if behaviour == "429":
            return fail(behaviour, 429, "rate limited", {"retry-after": "0"})
        if behaviour in ("500", "503", "529"):
            return fail(behaviour, int(behaviour), "server error" if behaviour != "529" else "overloaded")
        if behaviour in ("empty", "garbage"):
            self._record(behaviour, 200, model, body)
            h._raw(200, b"" if behaviour == "empty" else b"<html>not json{")
            return None
        if behaviour in ("drop", "hangup"):
            self._record(behaviour, 0, model, body)
            if behaviour == "hangup":
                time.sleep(self.slow_seconds)
            h._hang_up()
            return None
        if behaviour == "slow":
            # Logged before the wait: a client that times out has still sent it.
            self._record(behaviour, 200, model, body)
            time.sleep(self.slow_seconds)
        try:
            text = self._text(body)
        except _Refused as exc:
            return fail(behaviour, exc.status, exc.message)
        asked = self._asked(body)
        stopped = None
        hits = [(text.find(s), s) for s in asked.stop if s and s in text]
        if hits:
            at, stopped = min(hits)
            text = text[:at]
        cut = asked.max_tokens is not None and _tokens(text) > asked.max_tokens
        if cut and asked.max_tokens is not None:
            text, stopped = text[: 4 * asked.max_tokens], None
        with self._lock:
            n = len(self.log)
        doc = self._reply_doc(n, model, text, stopped, cut, asked, behaviour == "nochoices")
        if behaviour != "slow":
            self._record(behaviour, 200, model, body)
        h._json(200, doc)
        return None

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class FakeChatServer(FakeServer):
    """``POST /v1/chat/completions`` (``url`` ends in ``/v1``), the OpenAI-compatible protocol."""

    route = "/chat/completions"
    url_suffix = "/v1"

    def __init__(
        self,
        reply: str | Reply = "hello",
        *,
        grammar_field: str | None = None,
        honour_schema: bool = False,
        **kw: Any,
    ) -> None:
        self.grammar_field = grammar_field
        self.honour_schema = honour_schema
        super().__init__(reply, **kw)

    def _authorised(self, headers: Any) -> bool:
        return self.api_key is None or headers.get("authorization") == f"Bearer {self.api_key}"

    def _error_doc(self, status: int, message: str) -> dict[str, Any]:
        return {"error": {"message": message, "code": status}}

    def _asked(self, body: dict[str, Any]) -> _Asked:
        stop = body.get("stop") or ()
        limit = body.get("max_completion_tokens", body.get("max_tokens"))
        return _Asked(
            max_tokens=int(limit) if limit is not None else None,
            stop=(stop,) if isinstance(stop, str) else tuple(stop),
            prompt_chars=sum(len(str(m.get("content", ""))) for m in body.get("messages", [])),
        )

    def _text(self, body: dict[str, Any]) -> str:
        if self.grammar_field is not None and self.grammar_field in body:
            options = _literal_alternatives(str(body[self.grammar_field]))
            if options is None:
                raise _Refused(400, 'the fake server understands only grammars like root ::= "a" | "b"')
            return options[int(body.get("seed") or 0) % len(options)]
        text = super()._text(body)
        fmt = body.get("response_format") or {}
        if self.honour_schema and fmt.get("type") == "json_schema":
            return json.dumps(_instance(fmt.get("json_schema", {}).get("schema", {}), text))
        return text

    def _reply_doc(
        self, n: int, model: str, text: str, stopped: str | None, cut: bool, asked: _Asked, bare: bool
    ) -> dict[str, Any]:
        choice = {
            "index": 0,
            "message": {"role": "assistant", "content": text},
            "finish_reason": "length" if cut else "stop",
        }
        prompt = _tokens("x" * asked.prompt_chars)
        return {
            "id": f"chatcmpl-{n}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [] if bare else [choice],
            "usage": {
                "prompt_tokens": prompt,
                "completion_tokens": _tokens(text),
                "total_tokens": prompt + _tokens(text),
            },
        }


class FakeMessagesServer(FakeServer):
    """``POST /v1/messages`` (``url`` is the server's root, as the Anthropic SDK's ``base_url``), the Anthropic
    Messages protocol; the key is the ``x-api-key`` header or a bearer token."""

    route = "/v1/messages"

    _ERROR_TYPES: ClassVar[dict[int, str]] = {
        400: "invalid_request_error",
        401: "authentication_error",
        404: "not_found_error",
        429: "rate_limit_error",
        529: "overloaded_error",
    }

    def _authorised(self, headers: Any) -> bool:
        # The API takes the key in x-api-key; recent SDKs send it as a bearer token instead.
        return self.api_key is None or self.api_key in (
            headers.get("x-api-key"),
            (headers.get("authorization") or "").removeprefix("Bearer "),
        )

    def _error_doc(self, status: int, message: str) -> dict[str, Any]:
        kind = self._ERROR_TYPES.get(status, "api_error")
        return {"type": "error", "error": {"type": kind, "message": message}}

    def _asked(self, body: dict[str, Any]) -> _Asked:
        system = body.get("system") or ""
        chars = len(system if isinstance(system, str) else json.dumps(system))
        chars += sum(len(str(m.get("content", ""))) for m in body.get("messages", []))
        limit = body.get("max_tokens")
        return _Asked(
            max_tokens=int(limit) if limit is not None else None,
            stop=tuple(body.get("stop_sequences") or ()),
            prompt_chars=chars,
        )

    def _reply_doc(
        self, n: int, model: str, text: str, stopped: str | None, cut: bool, asked: _Asked, bare: bool
    ) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "id": f"msg_{n}",
            "type": "message",
            "role": "assistant",
            "model": model,
            "stop_reason": "max_tokens" if cut else ("stop_sequence" if stopped else "end_turn"),
            "stop_sequence": stopped,
            "usage": {"input_tokens": _tokens("x" * asked.prompt_chars), "output_tokens": _tokens(text)},
        }
        if not bare:
            doc["content"] = [{"type": "text", "text": text}]
        return doc
