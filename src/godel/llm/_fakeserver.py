"""A local HTTP server speaking ``/v1/chat/completions``, with failure injection, for tests and benchmarks.

Each request gets a behaviour: the next one from ``script`` if any is left, else a failure drawn with probability
``failure_rate`` from ``failures`` (seeded), else ``ok``. Behaviours: ``ok``, ``429`` (with ``Retry-After: 0``),
``500``, ``503``, ``slow`` (answers after ``slow_seconds``), ``empty`` (200 with no body), ``garbage`` (200 with
non-JSON), ``nochoices`` (200, ``choices: []``), ``drop`` (closes the connection). A request for another model than
``model`` gets 404 and a wrong bearer token (when ``api_key`` is set) gets 401. Every request is logged in ``log``.
"""

from __future__ import annotations

import contextlib
import json
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["FakeChatServer", "Request"]

Reply = Callable[[dict[str, Any]], str]


@dataclass(frozen=True)
class Request:
    behaviour: str
    status: int
    model: str
    body: dict[str, Any]


class FakeChatServer:
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

            def do_GET(self) -> None:
                if self.path.rstrip("/").endswith("/models"):
                    self._json(200, {"object": "list", "data": [{"id": server.model, "object": "model"}]})
                else:
                    self._json(404, {"error": {"message": f"no route {self.path}"}})

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length)
                try:
                    body = json.loads(raw or b"{}")
                except json.JSONDecodeError:
                    body = {}
                server._handle(self, body)

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

        self._handler = Handler
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/v1"

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

    def _handle(self, h: Any, body: dict[str, Any]) -> None:
        model = str(body.get("model", ""))
        if self.api_key is not None and h.headers.get("authorization") != f"Bearer {self.api_key}":
            return self._done(h, "401", 401, model, body, {"error": {"message": "invalid api key"}})
        if model != self.model:
            return self._done(
                h, "404", 404, model, body, {"error": {"message": f"model {model!r} does not exist"}}
            )
        behaviour = self._next()
        if behaviour == "429":
            return self._done(
                h, behaviour, 429, model, body, {"error": {"message": "rate limited"}}, {"retry-after": "0"}
            )
        if behaviour in ("500", "503"):
            return self._done(
                h, behaviour, int(behaviour), model, body, {"error": {"message": "server error"}}
            )
        if behaviour == "empty":
            self._record(behaviour, 200, model, body)
            h._raw(200, b"")
            return
        if behaviour == "garbage":
            self._record(behaviour, 200, model, body)
            h._raw(200, b"<html>not json{")
            return
        if behaviour == "drop":
            self._record(behaviour, 0, model, body)
            h.close_connection = True
            h.connection.close()
            return None
        if behaviour == "slow":
            self._record(behaviour, 200, model, body)
            time.sleep(self.slow_seconds)
        text = self.reply(body) if callable(self.reply) else self.reply
        prompt_chars = sum(len(str(m.get("content", ""))) for m in body.get("messages", []))
        doc = {
            "id": f"chatcmpl-{len(self.log)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": []
            if behaviour == "nochoices"
            else [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": {
                "prompt_tokens": prompt_chars // 4 + 1,
                "completion_tokens": len(text) // 4 + 1,
                "total_tokens": prompt_chars // 4 + len(text) // 4 + 2,
            },
        }
        self._done(h, behaviour, 200, model, body, doc, record=behaviour != "slow")

    def _record(self, behaviour: str, status: int, model: str, body: dict[str, Any]) -> None:
        with self._lock:
            self.log.append(Request(behaviour, status, model, body))

    def _done(
        self,
        h: Any,
        behaviour: str,
        status: int,
        model: str,
        body: dict[str, Any],
        doc: Any,
        headers: dict[str, str] | None = None,
        *,
        record: bool = True,
    ) -> None:
        if record:
            self._record(behaviour, status, model, body)
        h._json(status, doc, headers)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FakeChatServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
