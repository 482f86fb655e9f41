"""The standard-library chat-completions transport: kept-alive connections reused per thread, a connection the
server closed while idle replaced without sending a request twice, proxies left to the SDK."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from godel.llm import CompletionRequest, Message, ModelConfig, make_backend
from godel.llm._openai import OpenAICompatibleLLM
from godel.llm._wire import WireClient, proxied
from godel.llm.testing import FakeChatServer

ASK = CompletionRequest((Message("user", "say hello"),), max_tokens=16)


class _Counting(ThreadingHTTPServer):
    """A keep-alive chat endpoint that counts connections and requests, and closes a connection idle for
    ``idle`` seconds (as real servers and proxies do)."""

    def __init__(self, idle: float) -> None:
        self.connections = 0
        self.requests = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            timeout = idle

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def setup(self) -> None:
                super().setup()
                server.connections += 1

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers["content-length"]))
                server.requests += 1
                data = json.dumps(
                    {
                        "choices": [
                            {"message": {"content": f"reply {server.requests}"}, "finish_reason": "stop"}
                        ]
                    }
                ).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        super().__init__(("127.0.0.1", 0), Handler)
        self.daemon_threads = True
        threading.Thread(target=self.serve_forever, args=(0.02,), daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"


@pytest.fixture
def counting() -> Iterator[_Counting]:
    srv = _Counting(idle=0.2)
    yield srv
    srv.shutdown()
    srv.server_close()


def _backend(url: str) -> OpenAICompatibleLLM:
    llm = make_backend(ModelConfig(backend="openai", model="fake-model", base_url=url, timeout_seconds=2.0))
    assert isinstance(llm, OpenAICompatibleLLM)
    return llm


def test_requests_reuse_one_connection_per_thread(counting: _Counting) -> None:
    llm = _backend(counting.url)
    assert llm.transport == "wire"
    texts = [llm.complete(ASK).text for _ in range(5)]
    assert texts == [f"reply {i}" for i in range(1, 6)]
    assert counting.connections == 1

    def other() -> None:
        llm.complete(ASK)

    t = threading.Thread(target=other)
    t.start()
    t.join()
    assert counting.connections == 2 and counting.requests == 6


def test_a_connection_closed_while_idle_is_replaced_and_nothing_is_sent_twice(counting: _Counting) -> None:
    llm = _backend(counting.url)
    assert llm.complete(ASK).text == "reply 1"
    time.sleep(0.5)  # the server closes the idle connection after 0.2 s
    assert llm.complete(ASK).text == "reply 2"
    assert counting.requests == 2 and counting.connections == 2


def test_the_fake_server_sees_each_request_once_over_a_kept_alive_connection() -> None:
    with FakeChatServer(reply="hi") as srv:
        client = WireClient(srv.url, {}, 2.0)
        first = client.post("/chat/completions", {"model": "fake-model", "messages": []})
        sock = client._local.conn.sock
        second = client.post("/chat/completions", {"model": "fake-model", "messages": []})
        assert first.status == second.status == 200
        assert client._local.conn.sock is sock
        assert srv.behaviours() == ["ok", "ok"]


def test_a_proxied_url_goes_through_the_sdk(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    assert proxied("https://api.example.test/v1")
    assert not proxied("http://127.0.0.1:8000/v1")  # only HTTP_PROXY / ALL_PROXY route plain http
    monkeypatch.setenv("NO_PROXY", "localhost,.example.test")
    assert not proxied("https://api.example.test/v1")
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("NO_PROXY", "")
    llm = _backend("http://127.0.0.1:8000/v1")
    assert llm.transport == "sdk"


def test_the_sdk_transport_keeps_the_same_contract(monkeypatch: pytest.MonkeyPatch) -> None:
    import godel.llm._openai as backend

    monkeypatch.setattr(backend, "proxied", lambda url: True)  # as if a proxy were configured for the URL
    with FakeChatServer(reply="hello there") as srv:
        llm = _backend(srv.url)
        assert llm.transport == "sdk"
        out = llm.complete(ASK)
        assert out.text == "hello there" and out.tokens_in > 0 and out.tokens_out > 0
        srv.script.append("500")
        with pytest.raises(Exception, match="HTTP 500") as info:
            llm.complete(ASK)
        assert getattr(info.value, "retryable", False)
