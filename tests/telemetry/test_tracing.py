"""Spans: no-op without an SDK, exported with one; LLM spans carry the GenAI semantic-convention attributes."""

from __future__ import annotations

import subprocess
import sys

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from godel.telemetry import genai_attributes, genai_usage, llm_span, span
from tests.dashboard.builder import SECRET
from tests.helpers import ROOT

_exporter = InMemorySpanExporter()


@pytest.fixture(scope="module")
def spans() -> InMemorySpanExporter:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(_exporter))
    trace.set_tracer_provider(provider)  # once per process: the API refuses to replace a provider
    return _exporter


def test_noop_without_sdk() -> None:
    code = (
        "from godel.telemetry import span, llm_span\n"
        "with span('evaluate', candidate=1) as s:\n    assert not s.is_recording()\n"
        "with llm_span('openai', 'm') as s:\n    assert not s.is_recording()\n"
        "@span('propose')\ndef f(x):\n    return x + 1\nassert f(1) == 2\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, timeout=60)


def test_loop_spans_nest_and_record_errors(spans: InMemorySpanExporter) -> None:
    spans.clear()
    with span("admit", candidate=7, iteration=3, flags=["a", "b"], nothing=None, obj={"k": 1}):
        with span("guard", **{"godel.decision": "allow"}):
            pass
        with pytest.raises(ValueError), span("evaluate", candidate=7):
            raise ValueError(f"bad {SECRET}")

    @span("propose", proposer="mutate")
    def propose(x: int) -> int:
        return x * 2

    assert propose(2) == 4 and propose(3) == 6
    got = {s.name: s for s in spans.get_finished_spans()}
    assert set(got) == {"godel.admit", "godel.guard", "godel.evaluate", "godel.propose"}
    admit = got["godel.admit"]
    assert admit.attributes is not None
    assert admit.attributes["godel.candidate"] == 7 and tuple(admit.attributes["godel.flags"]) == ("a", "b")
    assert "godel.nothing" not in admit.attributes and admit.attributes["godel.obj"] == "{'k': 1}"
    assert (
        got["godel.guard"].parent is not None and got["godel.guard"].parent.span_id == admit.context.span_id
    )
    ev = got["godel.evaluate"]
    assert ev.status.status_code == StatusCode.ERROR and SECRET not in str(ev.status.description)
    assert len([s for s in spans.get_finished_spans() if s.name == "godel.propose"]) == 2


def test_llm_span_follows_genai_conventions(spans: InMemorySpanExporter) -> None:
    spans.clear()
    with llm_span("openai", "gpt-4o-mini", temperature=0.7, max_tokens=512, server_address="127.0.0.1") as s:
        s.set_attributes(
            genai_usage(
                input_tokens=812,
                output_tokens=240,
                response_model="gpt-4o-mini-2024",
                finish_reasons=["stop"],
            )
        )
    with pytest.raises(TimeoutError), llm_span("anthropic", "claude"):
        raise TimeoutError(f"timed out with key {SECRET}")
    ok, failed = spans.get_finished_spans()
    assert ok.name == "chat gpt-4o-mini" and ok.kind == SpanKind.CLIENT
    a = ok.attributes
    assert a is not None
    assert a["gen_ai.system"] == "openai" and a["gen_ai.operation.name"] == "chat"
    assert a["gen_ai.request.model"] == "gpt-4o-mini" and a["gen_ai.request.temperature"] == 0.7
    assert a["gen_ai.usage.input_tokens"] == 812 and a["gen_ai.usage.output_tokens"] == 240
    assert tuple(a["gen_ai.response.finish_reasons"]) == ("stop",)
    assert failed.attributes is not None and failed.attributes["error.type"] == "TimeoutError"
    assert failed.status.status_code == StatusCode.ERROR
    assert SECRET not in (failed.status.description or "")
    assert failed.events and failed.events[0].attributes is not None
    assert failed.events[0].attributes["exception.type"] == "TimeoutError"
    assert SECRET not in str(failed.events[0].attributes["exception.message"])
    assert genai_attributes("openai", "m", top_p=None) == {
        "gen_ai.system": "openai",
        "gen_ai.provider.name": "openai",
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": "m",
    }
