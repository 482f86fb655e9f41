"""A small JSON-over-HTTP client on the standard library, for the chat-completions hot path.

Why not the ``openai`` SDK: importing it (httpx, pydantic models for the whole API) costs ~0.7 s of CPU at start,
and each call builds and validates request and response models, several milliseconds of CPU per proposal, which on
a fast endpoint is most of what a proposal costs. This client keeps one HTTP/1.1 connection per thread alive
(``http.client``), so a run's proposals reuse their connections, and does nothing per call but encode the body,
send it and decode the reply.

A kept-alive connection the server has closed while it sat idle is noticed before the request is written (the
socket is readable: the server's FIN), and replaced; a request is never sent twice, so a server that accepts a
request and hangs up is reported as such, not retried behind the caller's back.

Failures come back as :class:`WireFailure` with what happened (``timeout``, ``connect`` for a connection never
made, ``disconnected`` for one cut after the request went out), the original exception as ``__cause__``; the
backend maps them to :class:`~godel.llm.EndpointError` through :class:`~godel.llm._http.HttpEndpoint`.
"""

from __future__ import annotations

import http.client
import json
import os
import select
import socket
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

__all__ = ["WireClient", "WireFailure", "WireResponse", "proxied"]


@dataclass(frozen=True)
class WireResponse:
    status: int
    headers: Mapping[str, str]  # lower-case names
    body: bytes

    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


class WireFailure(Exception):
    """No HTTP reply: ``kind`` is ``timeout``, ``connect`` (never connected) or ``disconnected``."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def proxied(url: str) -> bool:
    """True when the environment routes ``url`` through a proxy (``HTTP(S)_PROXY``/``ALL_PROXY``, minus
    ``NO_PROXY``): the stdlib client does not speak to proxies, so the caller uses the SDK for such a URL."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    names = (f"{scheme}_proxy", "all_proxy")
    if not any(os.environ.get(n) or os.environ.get(n.upper()) for n in names):
        return False
    no_proxy = os.environ.get("no_proxy") or os.environ.get("NO_PROXY") or ""
    host = (parts.hostname or "").lower()
    for entry in (e.strip().lower() for e in no_proxy.split(",")):
        if not entry:
            continue
        if entry == "*":
            return False
        entry = entry.lstrip(".").split(":")[0]
        if host == entry or host.endswith("." + entry):
            return False
    return True


def _dropped(conn: http.client.HTTPConnection) -> bool:
    """True when an idle kept-alive connection is no longer usable: readable while idle means the server closed
    it (or sent something unasked, which is as bad)."""
    sock = conn.sock
    if sock is None:
        return True
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)


class WireClient:
    """POSTs JSON to ``base_url`` + a path over one kept-alive connection per thread. Thread-safe."""

    def __init__(self, base_url: str, headers: Mapping[str, str], timeout: float) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {base_url!r}")
        self.https = parts.scheme == "https"
        self.host = parts.hostname
        self.port = parts.port or (443 if self.https else 80)
        self.prefix = parts.path.rstrip("/")
        self.timeout = timeout
        self.headers = {"content-type": "application/json", "accept": "application/json", **headers}
        self._local = threading.local()

    def _connection(self) -> http.client.HTTPConnection:
        conn: http.client.HTTPConnection | None = getattr(self._local, "conn", None)
        if conn is not None and _dropped(conn):
            conn.close()
            conn = None
        if conn is None:
            if self.https:
                import ssl  # only for https: the import is ~10 ms

                conn = http.client.HTTPSConnection(
                    self.host, self.port, timeout=self.timeout, context=ssl.create_default_context()
                )
            else:
                conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            self._local.conn = conn
        return conn

    def _discard(self) -> None:
        conn: http.client.HTTPConnection | None = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            conn.close()

    def post(self, path: str, doc: Any) -> WireResponse:
        """The reply to ``doc`` POSTed as JSON; raises :class:`WireFailure` when no HTTP reply came."""
        body = json.dumps(doc).encode()
        conn = self._connection()
        fresh = conn.sock is None
        try:
            if fresh:
                conn.connect()
                # http.client sends a bytes body with the headers, but should it ever take two writes, Nagle's
                # algorithm would hold the second for the peer's delayed ACK (~40 ms).
                conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except TimeoutError as exc:
            self._discard()
            raise WireFailure("timeout", f"connect timed out: {exc}") from exc
        except OSError as exc:
            self._discard()
            raise WireFailure("connect", str(exc)) from exc
        try:
            conn.request("POST", self.prefix + path, body=body, headers=self.headers)
            resp = conn.getresponse()
            data = resp.read()
        except TimeoutError as exc:
            self._discard()
            raise WireFailure("timeout", f"timed out: {exc}") from exc
        except (OSError, http.client.HTTPException) as exc:
            self._discard()
            raise WireFailure("disconnected", f"{type(exc).__name__}: {exc}") from exc
        headers = {k.lower(): v for k, v in resp.getheaders()}
        if resp.will_close:
            self._discard()
        return WireResponse(resp.status, headers, data)

    def close(self) -> None:
        """Closes this thread's connection (other threads' close when their thread ends)."""
        self._discard()
