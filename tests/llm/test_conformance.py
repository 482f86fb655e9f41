"""Every backend passes godel.llm.testing: OpenAI-compatible and Anthropic against local fake servers, each alone
and behind a ModelPool, and the embedded SmolLM2 model."""

from __future__ import annotations

import functools
from typing import Any

import pytest

from godel.llm import LLM, Capabilities, ModelConfig, make_backend
from godel.llm.testing import (
    EndpointConformance,
    FakeChatServer,
    FakeMessagesServer,
    LLMConformance,
    ModelFactory,
    PoolConformance,
    ServerFactory,
)

ANTHROPIC_KEY = "GODEL_TEST_ANTHROPIC_KEY"


def _model(backend: str, url: str, **fields: Any) -> ModelConfig:
    base: dict[str, Any] = {
        "backend": backend,
        "model": "fake-model",
        "base_url": url,
        "timeout_seconds": 2.0,
    }
    return ModelConfig.model_validate(base | fields)


class _OpenAI:
    @pytest.fixture
    def fake(self) -> ServerFactory:
        return FakeChatServer

    @pytest.fixture
    def model(self) -> ModelFactory:
        return functools.partial(_model, "openai")

    @pytest.fixture
    def capabilities(self) -> Capabilities:
        return Capabilities()


class _OpenAIGrammarAndSchema:
    """A llama.cpp-server-like endpoint: grammars in the ``grammar`` field, structured outputs."""

    @pytest.fixture
    def fake(self) -> ServerFactory:
        return functools.partial(FakeChatServer, grammar_field="grammar", honour_schema=True)

    @pytest.fixture
    def model(self) -> ModelFactory:
        return functools.partial(_model, "openai", grammar_field="grammar", structured_output=True)

    @pytest.fixture
    def capabilities(self) -> Capabilities:
        return Capabilities(grammar=True, structured=True)


class _Anthropic:
    @pytest.fixture
    def fake(self) -> ServerFactory:
        return FakeMessagesServer

    @pytest.fixture
    def model(self, monkeypatch: pytest.MonkeyPatch) -> ModelFactory:
        monkeypatch.setenv(ANTHROPIC_KEY, "test-key")
        return functools.partial(_model, "anthropic", api_key_env=ANTHROPIC_KEY)

    @pytest.fixture
    def capabilities(self) -> Capabilities:
        return Capabilities()


class TestOpenAI(_OpenAI, EndpointConformance):
    pass


class TestOpenAIPool(_OpenAI, PoolConformance):
    pass


class TestOpenAIWithGrammarAndSchema(_OpenAIGrammarAndSchema, EndpointConformance):
    pass


class TestOpenAIWithGrammarAndSchemaPool(_OpenAIGrammarAndSchema, PoolConformance):
    pass


class TestAnthropic(_Anthropic, EndpointConformance):
    pass


class TestAnthropicPool(_Anthropic, PoolConformance):
    pass


@pytest.mark.llm
@pytest.mark.slow
class TestEmbedded(LLMConformance):
    @pytest.fixture
    def llm(self) -> LLM:
        return make_backend(ModelConfig(n_threads=1))

    @pytest.fixture
    def capabilities(self) -> Capabilities:
        return Capabilities(grammar=True, prefill=True, seeded=True)
