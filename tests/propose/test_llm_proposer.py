"""LLMProposer: prompt -> model -> parsed and applied edit, never raising for bad output."""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest

from godel.candidate import Status
from godel.config import ProposerConfig
from godel.llm import LLMConfig, ModelConfig, ModelPool, make_backend, make_llm
from godel.llm.testing import FakeChatServer
from godel.propose import LLMProposer, Outcome
from godel.task import load_task
from tests.helpers import EXAMPLES
from tests.propose.support import context, file_task

PROGRAM = "import math\n# EVOLVE-BLOCK-START\ndef f(x):\n    return x * 2\n# EVOLVE-BLOCK-END\n"
GOOD = "<<<<<<< SEARCH\n    return x * 2\n=======\n    return x * 3\n>>>>>>> REPLACE\n"


def remote_proposer(url: str, **kw: object) -> LLMProposer:
    llm = make_llm(
        LLMConfig(
            models=(
                ModelConfig(
                    backend="openai", model="fake-model", base_url=url, timeout_seconds=2.0, max_retries=1
                ),
            ),
            cache=False,
            retry_base_seconds=0.01,
            **kw,  # type: ignore[arg-type]
        )
    )
    return LLMProposer(llm, ProposerConfig(kind="llm"))


@pytest.fixture
def good_server() -> Iterator[FakeChatServer]:
    with FakeChatServer(reply=GOOD) as srv:
        yield srv


def test_a_good_reply_becomes_a_program(good_server: FakeChatServer) -> None:
    task = file_task(PROGRAM)
    p = remote_proposer(good_server.url).propose(context(task), random.Random(1))
    assert p.ok and p.program is not None
    assert "return x * 3" in p.program.files["initial_program.py"]
    assert p.proposer == "llm" and p.model == "openai:fake-model" and p.edit == GOOD
    assert p.tokens_in > 0 and p.tokens_out > 0 and p.seconds > 0
    assert p.prompt is not None and "return x * 2" in p.prompt
    sent = good_server.log[0].body["messages"]
    assert sent[0]["role"] == "system" and "SEARCH/REPLACE" in sent[1]["content"]


def test_a_reply_without_an_edit_is_an_error_not_an_exception() -> None:
    with FakeChatServer(reply="I think the code is fine.") as srv:
        p = remote_proposer(srv.url).propose(context(file_task(PROGRAM)), random.Random(1))
    assert not p.ok and p.program is None
    assert p.error is not None and "no SEARCH/REPLACE block" in p.error
    assert p.edit == "I think the code is fine." and not p.meta.get("infra")


def test_remote_retry_sends_the_error_back() -> None:
    with FakeChatServer(reply="nothing") as srv:
        llm = remote_proposer(srv.url, attempts=2)
        srv.reply = lambda body: GOOD if len(body["messages"]) > 2 else "no edit here"
        p = llm.propose(context(file_task(PROGRAM)), random.Random(1))
        assert p.ok and p.meta["attempts"] == 2
        followup = srv.log[1].body["messages"]
        assert followup[-1]["role"] == "user" and "could not be applied" in followup[-1]["content"]


def test_a_code_block_answer_is_used_as_a_full_rewrite() -> None:
    reply = "Here you go:\n```python\ndef f(x):\n    return x * 4\n```\n"
    with FakeChatServer(reply=reply) as srv:
        p = remote_proposer(srv.url).propose(context(file_task(PROGRAM)), random.Random(1))
    assert p.ok and p.program is not None and "x * 4" in p.program.files["initial_program.py"]


def test_endpoint_failure_is_an_infra_failure_with_the_cause() -> None:
    with FakeChatServer() as srv:
        url = srv.url
    p = remote_proposer(url).propose(context(file_task(PROGRAM)), random.Random(1))
    assert p.program is None and p.meta["infra"] is True
    assert p.error is not None and f"cannot reach {url}" in p.error


def test_a_failing_endpoint_leaves_its_retry_notes_on_the_failed_proposal() -> None:
    with FakeChatServer(reply=GOOD, script=["500", "503", "500"]) as srv:
        p = remote_proposer(srv.url).propose(context(file_task(PROGRAM)), random.Random(1))
        assert srv.behaviours() == ["500", "503"]  # one call and max_retries=1 retry
    assert p.program is None and p.meta["infra"] is True and "HTTP 503" in (p.error or "")
    notes = p.meta["notes"]
    assert len(notes) == 2
    assert "http-500, retry 1" in notes[0] and "failed" in notes[1] and "HTTP 503" in notes[1]


def test_retry_notes_of_a_proposal_that_succeeded_are_kept() -> None:
    with FakeChatServer(reply=GOOD, script=["429"]) as srv:
        p = remote_proposer(srv.url).propose(context(file_task(PROGRAM)), random.Random(1))
    assert p.ok and len(p.meta["notes"]) == 1 and "http-429, retry 1" in p.meta["notes"][0]


def test_a_plain_backend_is_wrapped_in_a_pool(good_server: FakeChatServer) -> None:
    backend = make_backend(ModelConfig(backend="openai", model="fake-model", base_url=good_server.url))
    prop = LLMProposer(ModelPool.wrap(backend), ProposerConfig(kind="llm"))
    assert prop.attempts == 1 and not prop.grammar and not prop.exhausted
    p = prop.propose(context(file_task(PROGRAM)), random.Random(1))
    assert p.ok and p.model == "openai:fake-model"
    prop.report(Outcome("llm", p.model, Status.OK, 0.5, 0.0))
    assert prop.llm.stats()["bandit"]["openai:fake-model"]["pulls"] == 1  # type: ignore[attr-defined]


def test_budget_exhaustion_is_flagged(good_server: FakeChatServer) -> None:
    llm = make_llm(
        LLMConfig(
            models=(
                ModelConfig(
                    backend="openai", model="fake-model", base_url=good_server.url, cost_per_1k_in=100.0
                ),
            ),
            cache=False,
            max_cost=0.01,
        )
    )
    prop = LLMProposer(llm, ProposerConfig(kind="llm"))
    p = prop.propose(context(file_task(PROGRAM)), random.Random(1))
    assert p.program is None and p.meta["budget_exhausted"] is True and "max_cost" in (p.error or "")
    assert prop.exhausted and not good_server.log
    assert any("skipped" in n and "max_cost" in n for n in p.meta["notes"])


def test_report_reaches_the_bandit(good_server: FakeChatServer) -> None:
    prop = remote_proposer(good_server.url)
    prop.report(Outcome("llm", "openai:fake-model", Status.OK, 0.5, 0.01))
    assert prop.llm.stats()["bandit"]["openai:fake-model"]["pulls"] == 1  # type: ignore[attr-defined]


@pytest.mark.llm
@pytest.mark.slow
def test_embedded_default_proposes_applicable_edits() -> None:
    task = load_task(EXAMPLES / "function_minimization")
    prop = LLMProposer(
        make_llm(LLMConfig(models=(ModelConfig(n_threads=1),), cache=False)), ProposerConfig(kind="llm")
    )
    assert prop.attempts == 3 and prop.grammar and prop.prefill
    results = [prop.propose(context(task, iteration=i), random.Random(i)) for i in range(5)]
    ok = [r for r in results if r.ok]
    assert len(ok) >= 4, [r.error for r in results]
    for r in ok:
        assert r.program is not None and task.check_edit(task.program, r.program) is None
        assert r.program != task.program and r.model == "embedded:smollm2-135m-instruct"
        assert r.meta["op"] in ("substitute", "insert")


def _structured_proposer(url: str) -> LLMProposer:
    llm = make_llm(
        LLMConfig(
            models=(
                ModelConfig(
                    backend="openai",
                    model="fake-model",
                    base_url=url,
                    timeout_seconds=2.0,
                    max_retries=1,
                    structured_output=True,
                ),
            ),
            cache=False,
        )
    )
    return LLMProposer(llm, ProposerConfig(kind="llm"))


def test_structured_outputs_send_the_edit_schema_and_parse_json() -> None:
    reply = '{"edits": [{"search": "    return x * 2", "replace": "    return x * 5"}]}'
    with FakeChatServer(reply=reply) as srv:
        p = _structured_proposer(srv.url).propose(context(file_task(PROGRAM)), random.Random(1))
        body = srv.log[0].body
    assert p.ok and p.program is not None and "x * 5" in p.program.files["initial_program.py"]
    fmt = body["response_format"]
    assert fmt["type"] == "json_schema" and fmt["json_schema"]["schema"]["required"] == ["edits"]
    assert '"edits"' in body["messages"][-1]["content"]


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        ("not json at all", "not the JSON edit"),
        ('{"edits": []}', 'no "edits" list'),
        ('{"edits": [{"search": 1}]}', 'needs string "search" and "replace"'),
        ('{"edits": [{"search": "absent line", "replace": "x"}]}', "SEARCH"),
    ],
)
def test_structured_reply_that_does_not_fit_is_a_failed_proposal(reply: str, error: str) -> None:
    with FakeChatServer(reply=reply) as srv:
        p = _structured_proposer(srv.url).propose(context(file_task(PROGRAM)), random.Random(1))
    assert not p.ok and p.error is not None and error in p.error


def test_model_calls_are_counted_in_metrics_by_model(good_server: FakeChatServer) -> None:
    from godel.telemetry import render_metrics

    p = remote_proposer(good_server.url).propose(context(file_task(PROGRAM)), random.Random(3))
    assert p.ok
    body = render_metrics()[0].decode()
    requests = [line for line in body.splitlines() if line.startswith("godel_llm_requests_total{")]
    assert any('model="openai:fake-model"' in line for line in requests), requests
    tokens = [line for line in body.splitlines() if line.startswith("godel_llm_tokens_total{")]
    assert any('direction="input"' in line or "input" in line for line in tokens), tokens
