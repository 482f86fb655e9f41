"""The conformance suite every :class:`~godel.llm.LLM` backend passes, and the local fake servers that stand in
for remote model APIs (OpenAI chat completions, Anthropic Messages) on 127.0.0.1.

Three suites, subclassed in a test module that provides their fixtures:

* :class:`LLMConformance`, what every backend promises (a completion's text, model, tokens and seconds;
  ``max_tokens`` and stop sequences honoured; a seed accepted, and the reply fixed by it where ``seeded`` is
  declared; grammars, JSON schemas and prefills honoured where declared and harmless where not; the declared
  capabilities exact). Fixtures: ``llm`` (the backend) and ``capabilities`` (what it must declare).
* :class:`EndpointConformance` adds, for an HTTP backend against a fake server of its protocol, how failures
  map to :class:`~godel.llm.EndpointError`: 4xx not retryable, 429/5xx and timeouts retryable, a wrong model or
  key permanent, a refused connection told apart from a server that accepts the request and hangs up, a
  malformed reply named. Fixtures: ``fake`` (a callable opening the fake server, e.g. ``FakeChatServer``),
  ``model`` (a callable ``(url, **fields) -> ModelConfig`` for the backend against ``url``), ``capabilities``.
* :class:`PoolConformance`: the same backend behind a :class:`~godel.llm.ModelPool` (the same fixtures):
  transient failures retried with a note on the completion, persistent ones failing with the cause and the
  notes on the error, 4xx not retried, the caps, and the :class:`~godel.llm.Pool` members a proposer uses.

For example::

    class TestOpenAI(EndpointConformance):
        @pytest.fixture
        def fake(self): return FakeChatServer
        @pytest.fixture
        def model(self): return lambda url, **kw: ModelConfig(backend="openai", model="fake-model", base_url=url, **kw)
        @pytest.fixture
        def capabilities(self): return Capabilities()
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from godel.config import LLMConfig, ModelConfig
from godel.llm._base import LLM, Capabilities, Completion, CompletionRequest, Message, Pool
from godel.llm._errors import EndpointError, PoolBudgetExhausted, PoolError
from godel.llm._factory import make_backend, make_llm
from godel.llm._fakeserver import FakeChatServer, FakeMessagesServer, FakeServer, Request
from godel.llm._pool import ModelPool

__all__ = [
    "EndpointConformance",
    "FakeChatServer",
    "FakeMessagesServer",
    "FakeServer",
    "LLMConformance",
    "ModelFactory",
    "PoolConformance",
    "Request",
    "ServerFactory",
]

ServerFactory = Callable[..., FakeServer]
ModelFactory = Callable[..., ModelConfig]

# What the fake servers answer: long enough to be cut by max_tokens, with repeated words for stop sequences.
REPLY = "Hello there! The quick brown fox jumps over the lazy dog, and the dog sleeps on."
SLOW = 0.6  # seconds a fake server waits on "slow" and "hangup"; timeouts in the suite are shorter
TIMEOUT = 0.3
KEY_ENV = "GODEL_CONFORMANCE_KEY"

_HELLO = (Message("system", "Answer in one short sentence."), Message("user", "Say hello to me."))
_STORY = (Message("user", "Write a long story about a cat who travels around the world."),)
_YES_NO = 'root ::= "yes" | "no"'
_SCHEMA = {
    "type": "object",
    "properties": {"answer": {"type": "string"}},
    "required": ["answer"],
    "additionalProperties": False,
}


def _ask(messages: tuple[Message, ...] = _HELLO, **fields: Any) -> CompletionRequest:
    fields.setdefault("max_tokens", 24)
    fields.setdefault("temperature", 0.0)
    fields.setdefault("seed", 1)
    return CompletionRequest(messages, **fields)


def _completed(out: Completion) -> None:
    assert isinstance(out.text, str) and out.tokens_out >= 0 and out.finish_reason


class LLMConformance:
    """What every backend promises. Fixtures: ``llm`` and ``capabilities``."""

    def test_declares_the_interface_and_its_capabilities(self, llm: LLM, capabilities: Capabilities) -> None:
        assert isinstance(llm, LLM)
        assert isinstance(llm.name, str) and llm.name
        assert llm.capabilities == capabilities

    def test_a_completion_reports_text_model_tokens_and_seconds(self, llm: LLM) -> None:
        out = llm.complete(_ask(max_tokens=16))
        assert isinstance(out, Completion)
        assert out.text.strip()
        assert out.model == llm.name
        assert out.tokens_in > 0 and 0 < out.tokens_out <= 16
        assert out.seconds > 0 and out.cost >= 0
        assert out.finish_reason in ("stop", "length")
        assert isinstance(out.notes, tuple) and not out.cached

    def test_max_tokens_is_honoured(self, llm: LLM) -> None:
        out = llm.complete(_ask(_STORY, max_tokens=4))
        assert 0 < out.tokens_out <= 4
        assert out.finish_reason == "length"

    def test_stop_sequences_are_honoured(self, llm: LLM) -> None:
        full = llm.complete(_ask(max_tokens=24)).text
        assert len(full) >= 6, full
        # A stop sequence from the middle of the reply: the same request stopped by it ends just before it.
        stop = next(
            full[i : i + 2]
            for i in range(len(full) // 2, len(full) - 1)
            if full.find(full[i : i + 2]) >= 1 and full[i : i + 2].strip()
        )
        out = llm.complete(_ask(max_tokens=24, stop=(stop,)))
        assert out.text == full[: full.find(stop)]
        assert out.finish_reason == "stop"

    def test_a_seed_is_taken_and_fixes_the_reply_where_promised(self, llm: LLM) -> None:
        request = _ask(_STORY, max_tokens=12, temperature=0.9, seed=7)
        first, second = llm.complete(request), llm.complete(request)
        _completed(first)
        _completed(second)
        if llm.capabilities.seeded:
            assert first.text == second.text

    def test_a_grammar_is_honoured_where_declared(self, llm: LLM) -> None:
        question = (Message("user", "Is the sky blue? Answer yes or no."),)
        out = llm.complete(_ask(question, max_tokens=8, grammar=_YES_NO))
        _completed(out)
        if llm.capabilities.grammar:
            assert out.text in ("yes", "no")

    def test_a_schema_is_honoured_where_declared(self, llm: LLM) -> None:
        question = (Message("user", 'What colour is grass? Reply as JSON {"answer": ...}.'),)
        out = llm.complete(_ask(question, max_tokens=32, schema=_SCHEMA))
        _completed(out)
        if llm.capabilities.structured:
            doc = json.loads(out.text)
            assert set(doc) == {"answer"} and isinstance(doc["answer"], str)

    def test_a_prefill_is_continued_where_declared(self, llm: LLM) -> None:
        prefill = '{"colour": "'
        messages = (Message("user", "What colour is grass? Reply as JSON."), Message("assistant", prefill))
        caps = llm.capabilities
        grammar = 'root ::= [a-z]{1,12} "\\"}"' if caps.prefill and caps.grammar else None
        out = llm.complete(_ask(messages, max_tokens=12, grammar=grammar))
        _completed(out)
        if caps.prefill:
            assert not out.text.startswith(prefill)  # the continuation only
        if grammar is not None:
            assert set(json.loads(prefill + out.text)) == {"colour"}


class _Served:
    """A fake server of the backend's protocol for each test, from the ``fake`` fixture."""

    @pytest.fixture
    def server(self, fake: ServerFactory) -> Iterator[FakeServer]:
        srv = fake(reply=REPLY, slow_seconds=SLOW)
        try:
            yield srv
        finally:
            srv.close()

    @staticmethod
    def closed_url(fake: ServerFactory) -> str:
        """The address of a server that is gone: nothing listens there any more."""
        srv = fake()
        url = srv.url
        srv.close()
        return url


class EndpointConformance(_Served, LLMConformance):
    """An HTTP backend against a fake server: how its failures read. Fixtures: ``fake``, ``model``,
    ``capabilities``."""

    @pytest.fixture
    def llm(self, server: FakeServer, model: ModelFactory) -> LLM:
        return make_backend(model(server.url))

    @staticmethod
    def failure(llm: LLM) -> EndpointError:
        with pytest.raises(EndpointError) as info:
            llm.complete(_ask())
        return info.value

    def test_a_client_error_is_not_retryable(self, llm: LLM, server: FakeServer) -> None:
        server.script.append("400")
        exc = self.failure(llm)
        assert exc.status == 400 and exc.kind == "http-400"
        assert not exc.retryable and not exc.permanent
        assert "HTTP 400" in exc.message and server.url in exc.message

    @pytest.mark.parametrize("status", ["429", "500", "503"])
    def test_rate_limits_and_server_errors_are_retryable(
        self, llm: LLM, server: FakeServer, status: str
    ) -> None:
        server.script.append(status)
        exc = self.failure(llm)
        assert exc.retryable and exc.status == int(status) and f"HTTP {status}" in exc.message
        if status == "429":
            assert exc.retry_after == 0.0  # the fake's Retry-After

    @pytest.mark.slow  # waits out the client's timeout
    def test_a_timeout_is_retryable_and_named(self, server: FakeServer, model: ModelFactory) -> None:
        server.script.append("slow")
        exc = self.failure(make_backend(model(server.url, timeout_seconds=TIMEOUT)))
        assert exc.retryable and exc.kind == "timeout"
        assert f"timed out after {TIMEOUT:g} s" in exc.message and server.url in exc.message

    def test_an_unknown_model_is_permanent(self, server: FakeServer, model: ModelFactory) -> None:
        exc = self.failure(make_backend(model(server.url, model="no-such-model")))
        assert exc.permanent and exc.status == 404
        assert f"model 'no-such-model' not found at {server.url}" in exc.message

    def test_a_rejected_key_is_permanent_and_names_its_variable(
        self, fake: ServerFactory, model: ModelFactory, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv(KEY_ENV, "wrong")
        with fake(api_key="right") as srv:
            llm = make_backend(model(srv.url, api_key_env=KEY_ENV))
            exc = self.failure(llm)
            assert exc.permanent and exc.status == 401
            assert f"rejected the key in ${KEY_ENV} (HTTP 401)" in exc.message
            monkeypatch.setenv(KEY_ENV, "right")
            assert make_backend(model(srv.url, api_key_env=KEY_ENV)).complete(_ask()).text

    def test_a_refused_connection_cannot_reach(self, fake: ServerFactory, model: ModelFactory) -> None:
        url = self.closed_url(fake)
        exc = self.failure(make_backend(model(url)))
        assert exc.kind == "unreachable" and not exc.retryable
        assert f"cannot reach {url}" in exc.message and exc.hint

    @pytest.mark.parametrize("behaviour", [pytest.param("hangup", marks=pytest.mark.slow), "drop"])
    def test_a_server_that_hangs_up_is_not_called_unreachable(
        self, llm: LLM, server: FakeServer, behaviour: str
    ) -> None:
        server.script.append(behaviour)
        exc = self.failure(llm)
        assert exc.kind == "disconnected"
        assert "accepted the request and closed the connection" in exc.message
        assert "cannot reach" not in str(exc) and "start the server" not in str(exc)
        if behaviour == "hangup":
            assert exc.message.count(" s (") == 1 and "after 0." in exc.message

    @pytest.mark.parametrize("behaviour", ["empty", "garbage", "nochoices"])
    def test_a_malformed_reply_is_named(self, llm: LLM, server: FakeServer, behaviour: str) -> None:
        server.script.append(behaviour)
        exc = self.failure(llm)
        assert exc.kind == "reply" and not exc.retryable and not exc.permanent
        assert "malformed reply" in exc.message and server.url in exc.message and exc.hint

    def test_every_request_reaches_the_server_once(self, llm: LLM, server: FakeServer) -> None:
        llm.complete(_ask())
        assert server.behaviours() == ["ok"]


class PoolConformance(_Served, LLMConformance):
    """The backend behind a :class:`~godel.llm.ModelPool`. Fixtures: ``fake``, ``model``, ``capabilities``."""

    RETRIES = 2

    @staticmethod
    def pool(model: ModelConfig, **fields: Any) -> ModelPool:
        fields.setdefault("cache", False)
        fields.setdefault("retry_base_seconds", 0.01)
        return make_llm(LLMConfig(models=(model,), **fields))

    @pytest.fixture
    def llm(self, server: FakeServer, model: ModelFactory) -> ModelPool:
        return self.pool(model(server.url, max_retries=self.RETRIES))

    def test_declares_what_a_proposer_uses(self, server: FakeServer, model: ModelFactory) -> None:
        llm = self.pool(model(server.url, max_tokens=99, temperature=0.25), attempts=2)
        assert isinstance(llm, Pool)
        assert llm.max_tokens == 99 and llm.temperature == 0.25 and llm.attempts == 2
        assert not llm.exhausted
        llm.report(llm.name, 0.5, 0.01)
        assert llm.stats()["bandit"][llm.name]["pulls"] == 1

    @pytest.mark.parametrize("failure", ["429", "500", "503", pytest.param("slow", marks=pytest.mark.slow)])
    def test_a_transient_failure_is_retried_with_a_note(
        self, server: FakeServer, model: ModelFactory, failure: str
    ) -> None:
        llm = self.pool(model(server.url, timeout_seconds=TIMEOUT, max_retries=self.RETRIES))
        server.script.append(failure)
        out = llm.complete(_ask())
        assert out.text == REPLY
        assert len(out.notes) == 1 and "retry 1" in out.notes[0] and llm.name in out.notes[0]
        assert server.behaviours()[:2] == [failure, "ok"]

    def test_a_persistent_failure_fails_with_the_cause_and_the_notes(
        self, llm: ModelPool, server: FakeServer
    ) -> None:
        server.script.extend(["500"] * (self.RETRIES + 2))
        with pytest.raises(PoolError, match="HTTP 500") as info:
            llm.complete(_ask())
        assert server.behaviours() == ["500"] * (self.RETRIES + 1)  # one call and its retries
        notes = info.value.notes
        assert len(notes) == self.RETRIES + 1
        assert all(f"retry {i + 1}" in note for i, note in enumerate(notes[:-1]))
        assert "failed" in notes[-1] and "HTTP 500" in notes[-1]

    def test_a_client_error_is_not_retried(self, llm: ModelPool, server: FakeServer) -> None:
        server.script.append("400")
        with pytest.raises(PoolError, match="HTTP 400") as info:
            llm.complete(_ask())
        assert server.behaviours() == ["400"]
        assert len(info.value.notes) == 1

    @pytest.mark.slow  # the hang-up waits a moment before closing
    def test_refused_and_hung_up_read_differently(
        self, server: FakeServer, fake: ServerFactory, model: ModelFactory
    ) -> None:
        url = self.closed_url(fake)
        with pytest.raises(PoolError) as refused:
            self.pool(model(url)).complete(_ask())
        server.script.append("hangup")
        with pytest.raises(PoolError) as hung:
            self.pool(model(server.url, max_retries=self.RETRIES)).complete(_ask())
        assert f"cannot reach {url}" in str(refused.value)
        assert "closed the connection" in str(hung.value) and "cannot reach" not in str(hung.value)
        assert server.behaviours() == ["hangup"]  # not retried: the server took the request

    def test_the_cost_cap_is_hard_and_noted(self, server: FakeServer, model: ModelFactory) -> None:
        llm = self.pool(model(server.url, cost_per_1k_in=10.0, cost_per_1k_out=10.0), max_cost=0.5)
        spent = 0
        with pytest.raises(PoolBudgetExhausted, match=r"llm\.max_cost=0\.5") as info:
            for _ in range(50):
                llm.complete(_ask())
                spent += 1
        assert spent > 0 and llm.exhausted and llm.stats()["spent"] <= 0.5
        assert any("skipped" in n for n in info.value.notes)
