"""The OpenAI-compatible client and the model pool against a local chat-completions server with injected failures."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from godel.errors import BudgetExhausted, LLMError
from godel.llm import CompletionRequest, LLMConfig, Message, ModelConfig, ModelPool, make_llm
from godel.llm.testing import FakeChatServer

MSG = (Message("system", "be brief"), Message("user", "say hello"))


def ask(**fields: Any) -> CompletionRequest:
    return CompletionRequest(MSG, **fields)


@pytest.fixture
def server() -> Iterator[FakeChatServer]:
    with FakeChatServer(reply="hello there", slow_seconds=1.5) as srv:
        yield srv


def remote(url: str, **kw: object) -> ModelConfig:
    fields: dict[str, object] = {
        "backend": "openai",
        "model": "fake-model",
        "base_url": url,
        "timeout_seconds": 0.5,
        "max_retries": 2,
    }
    fields.update(kw)
    return ModelConfig.model_validate(fields)


def pool(*models: ModelConfig, **kw: object) -> ModelPool:
    fields: dict[str, object] = {"models": models, "cache": False, "retry_base_seconds": 0.01}
    fields.update(kw)
    return make_llm(LLMConfig.model_validate(fields))


def test_plain_call_reports_text_tokens_and_cost(server: FakeChatServer) -> None:
    llm = pool(remote(server.url, cost_per_1k_in=1.0, cost_per_1k_out=2.0))
    out = llm.complete(ask(seed=1))
    assert out.text == "hello there"
    assert out.model == "openai:fake-model"
    assert out.tokens_in > 0 and out.tokens_out > 0
    assert out.cost == pytest.approx(out.tokens_in / 1000 + 2 * out.tokens_out / 1000)
    assert llm.stats()["spent"] == pytest.approx(out.cost, abs=1e-6)
    assert server.log[0].body["seed"] == 1


@pytest.mark.parametrize("failure", ["429", "500", "503", "slow"])
def test_transient_failures_are_retried(server: FakeChatServer, failure: str) -> None:
    server.script.extend([failure])
    llm = pool(remote(server.url))
    out = llm.complete(ask())
    notes = out.notes
    assert out.text == "hello there"
    stats = llm.stats()["models"]["openai:fake-model"]
    assert stats["retries"] == 1 and stats["ok"] == 1 and stats["failures"] == 0
    assert len(notes) == 1 and "retry 1" in notes[0]


def test_retries_give_up_after_max_retries(server: FakeChatServer) -> None:
    server.script.extend(["500"] * 5)
    llm = pool(remote(server.url, max_retries=2))
    with pytest.raises(LLMError, match="HTTP 500"):
        llm.complete(ask())
    assert server.behaviours() == ["500", "500", "500"]  # one call + 2 retries


@pytest.mark.parametrize(
    ("failure", "match"),
    [
        ("empty", "malformed reply"),
        ("garbage", "malformed reply"),
        ("nochoices", "no choices"),
        ("drop", "accepted the request and closed the connection"),
    ],
)
def test_malformed_replies_are_not_retried_and_named(
    server: FakeChatServer, failure: str, match: str
) -> None:
    server.script.extend([failure])
    llm = pool(remote(server.url))
    with pytest.raises(LLMError, match=match):
        llm.complete(ask())
    assert server.behaviours() == [failure]


def test_wrong_model_name_is_permanent_and_named(server: FakeChatServer) -> None:
    llm = pool(remote(server.url, model="no-such-model"))
    with pytest.raises(LLMError, match=r"model 'no-such-model' not found at http://127\.0\.0\.1:\d+/v1"):
        llm.complete(ask())
    with pytest.raises(LLMError, match="disabled"):
        llm.complete(ask())
    assert len(server.log) == 1  # disabled: no second request
    assert llm.stats()["models"]["openai:no-such-model"]["breaker"] == "disabled"


def test_missing_key_names_the_variable(monkeypatch: pytest.MonkeyPatch, server: FakeChatServer) -> None:
    monkeypatch.delenv("GODEL_TEST_KEY", raising=False)
    with pytest.raises(LLMError, match="GODEL_TEST_KEY"):
        pool(remote(server.url, api_key_env="GODEL_TEST_KEY"))


def test_rejected_key_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GODEL_TEST_KEY", "wrong")
    with FakeChatServer(api_key="right") as srv:
        llm = pool(remote(srv.url, api_key_env="GODEL_TEST_KEY"))
        with pytest.raises(LLMError, match=r"rejected the key in \$GODEL_TEST_KEY \(HTTP 401\)"):
            llm.complete(ask())
    monkeypatch.setenv("GODEL_TEST_KEY", "right")
    with FakeChatServer(api_key="right", reply="ok") as srv:
        assert pool(remote(srv.url, api_key_env="GODEL_TEST_KEY")).complete(ask()).text == "ok"


def test_unreachable_endpoint_names_the_url() -> None:
    with FakeChatServer() as srv:
        url = srv.url
    llm = pool(remote(url))
    with pytest.raises(LLMError, match=f"cannot reach {url}"):
        llm.complete(ask())


def test_breaker_opens_and_fails_over_then_recovers(server: FakeChatServer) -> None:
    with FakeChatServer(reply="from backup") as backup:
        llm = pool(
            remote(server.url, max_retries=0),
            remote(backup.url, name="backup", max_retries=0),
            selection="ordered",
            breaker_failures=2,
            breaker_cooldown_seconds=0.3,
        )
        server.script.extend(["500", "500"])
        for _ in range(2):
            out = llm.complete(ask())
            assert out.text == "from backup"
            assert any("failed over to backup" in n for n in out.notes)
        assert llm.stats()["models"]["openai:fake-model"]["breaker"] == "open"
        out = llm.complete(ask())  # the paused primary gets no request
        assert out.text == "from backup"
        assert len(server.log) == 2
        time.sleep(0.35)
        assert llm.complete(ask()).text == "hello there"  # half-open trial succeeds
        assert llm.stats()["models"]["openai:fake-model"]["breaker"] == "closed"


def test_cache_replays_identical_requests(tmp_path: Path, server: FakeChatServer) -> None:
    llm = pool(remote(server.url, cost_per_1k_out=1.0), cache=True, cache_dir=str(tmp_path))
    first = llm.complete(ask(seed=7))
    again = make_llm(
        LLMConfig(models=(remote(server.url, cost_per_1k_out=1.0),), cache=True, cache_dir=str(tmp_path))
    ).complete(ask(seed=7))
    assert again.cached and again.text == first.text and again.cost == 0.0
    assert len(server.log) == 1
    llm.complete(ask(seed=8))  # another seed is another request
    llm.complete(ask())  # no seed and temperature > 0: never cached
    llm.complete(ask())
    assert len(server.log) == 4


def test_cost_cap_is_hard(server: FakeChatServer) -> None:
    llm = pool(remote(server.url, cost_per_1k_in=10.0, cost_per_1k_out=10.0, max_tokens=50), max_cost=2.0)
    calls = 0
    with pytest.raises(BudgetExhausted, match=r"llm\.max_cost=2"):
        for _ in range(100):
            llm.complete(ask(max_tokens=50))
            calls += 1
    assert 0 < calls < 100
    assert llm.stats()["spent"] <= 2.0
    assert llm.exhausted


def test_token_cap_falls_back_to_free_model_before_stopping(server: FakeChatServer) -> None:
    with FakeChatServer(reply="free") as free:
        llm = pool(
            remote(server.url, cost_per_1k_out=100.0),
            remote(free.url, name="free"),
            selection="ordered",
            max_cost=0.01,
        )
        out = llm.complete(ask(max_tokens=512))
        assert out.text == "free" and any("max_cost" in n for n in out.notes)


def test_weighted_selection_follows_weights() -> None:
    with FakeChatServer(reply="a") as a, FakeChatServer(reply="b") as b:
        llm = pool(remote(a.url, name="a", weight=9.0), remote(b.url, name="b", weight=1.0))
        texts = [llm.complete(ask(seed=s)).text for s in range(60)]
        assert 40 <= texts.count("a") <= 60 and texts.count("b") >= 1


def test_ucb_prefers_the_model_that_improves_per_cost() -> None:
    with FakeChatServer(reply="a") as a, FakeChatServer(reply="b") as b:
        llm = pool(remote(a.url, name="a"), remote(b.url, name="b"), selection="ucb", ucb_c=0.2)
        for _ in range(30):
            out = llm.complete(ask())
            llm.report(out.model, 1.0 if out.model == "b" else 0.0, 0.01)
        counts = llm.stats()["bandit"]
        assert counts["b"]["pulls"] > counts["a"]["pulls"] * 3


def test_grammar_is_sent_only_when_configured(server: FakeChatServer) -> None:
    pool(remote(server.url)).complete(ask(grammar='root ::= "x"'))
    pool(remote(server.url, grammar_field="grammar")).complete(ask(grammar='root ::= "x"'))
    assert "grammar" not in server.log[0].body
    assert server.log[1].body["grammar"] == 'root ::= "x"'


def test_anthropic_without_key_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    with pytest.raises(LLMError, match="ANTHROPIC_API_KEY"):
        make_llm(LLMConfig(models=(ModelConfig(backend="anthropic", model="claude-x"),), cache=False))


def test_a_request_is_a_frozen_value_checked_when_made() -> None:
    request = CompletionRequest([Message("user", "hi")], stop=["\n"])  # type: ignore[arg-type]
    assert request.messages == (Message("user", "hi"),) and request.stop == ("\n",)
    assert hash(request) == hash(CompletionRequest((Message("user", "hi"),), stop=("\n",)))
    with pytest.raises(LLMError, match="max_tokens >= 1"):
        CompletionRequest(MSG, max_tokens=0)
    with pytest.raises(LLMError, match="at least one message"):
        CompletionRequest(())
