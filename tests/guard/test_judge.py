"""Model-judged constitution rules (``check: model_judge``) against a fake chat-completions server on 127.0.0.1:
verdicts, the fixed prompt, strict parsing, every fallback, config validation, and the pipeline around them."""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from godel.archive import Archive
from godel.candidate import Program, Status
from godel.engine import Engine
from godel.errors import GuardError, LLMError
from godel.executor.testing import EvaluationRequest, ScriptedExecutor, ok_evaluation
from godel.guard import ConstitutionGate, GuardConfig, Verdict, load_constitution, make_guard
from godel.guard.rules import CHECKS, parse_verdict
from godel.guard.rules._judge import GRAMMAR, SCHEMA, SYSTEM_PROMPT, MalformedVerdict
from godel.llm import LLMConfig, ModelConfig, SharedPool, make_llm
from godel.llm.testing import FakeChatServer
from godel.propose.testing import ScriptedProposer
from godel.select import make_selector
from godel.task import Task, load_task
from tests.helpers import write_task

SEED = "import math\n# EVOLVE-BLOCK-START\nX = 1.0\n# EVOLVE-BLOCK-END\n"
EVALUATOR = "def evaluate(p):\n    return {'combined_score': 0.0}\n"
KEY = "sk-proj-" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4"


def _constitution(tier: str = "deny", on_error: str | None = None, extra: str = "") -> str:
    fallback = f"\n      on_error: {on_error}" if on_error else ""
    head = "" if tier == "deny" else f"{tier}:\n"
    return f"""
version: 1
name: judged
default: require_approval
deny:
  - id: no-subprocess
    check: forbidden_imports
    params: {{modules: [subprocess]}}
{head}  - id: no-secrets
    check: model_judge
    params:
      principle: never expose secrets or credentials
      examples:
        - {{diff: "+KEY = 'abc'", violates: true, reasons: a key in the code}}
        - {{diff: "+KEY = os.environ['KEY']", violates: false}}{fallback}
{extra}
allow:
  - operation: edit
  - operation: import
    modules: ["*"]
"""


def _task(tmp_path: Path, constitution: str, *extra: str) -> Task:
    root = write_task(
        tmp_path / "t",
        {"initial_program.py": SEED, "evaluator.py": EVALUATOR, "constitution.yaml": constitution},
    )
    return load_task(root, ["run.noise_samples=0", "run.parallel=1", *extra])


def _child(body: str) -> Program:
    return Program.single("initial_program.py", SEED.replace("X = 1.0", body))


def _verdict(violates: bool, reasons: str) -> str:
    return json.dumps({"violates": violates, "reasons": reasons})


def _model(url: str, **kw: Any) -> ModelConfig:
    return ModelConfig(backend="openai", model="fake-model", base_url=url, max_retries=0, **kw)


def _pool(url: str, **llm: Any) -> SharedPool:
    model = llm.pop("model", None) or _model(url)
    return SharedPool(LLMConfig(models=(model,), cache=False, **llm))


def _gate(task: Task, llm: Callable[[], Any] | None) -> ConstitutionGate:
    return ConstitutionGate(GuardConfig(), task.root, task=task, llm=llm)


@pytest.fixture
def reply() -> list[str]:
    """What the fake server answers next (the last entry stays)."""
    return [_verdict(True, "it writes an API key into the code")]


@pytest.fixture
def server(reply: list[str]) -> Iterator[FakeChatServer]:
    with FakeChatServer(reply=lambda body: reply[0] if len(reply) == 1 else reply.pop(0)) as srv:
        yield srv


def test_a_violation_under_deny_rejects_with_the_models_reasons(
    tmp_path: Path, server: FakeChatServer
) -> None:
    task = _task(tmp_path, _constitution("deny"))
    v = _gate(task, _pool(server.url)).check(task, task.program, _child(f"X = 2.0\nKEY = {KEY!r}"))
    assert v.decision == "deny"
    assert v.reasons == ("[no-secrets] model judge (openai:fake-model): it writes an API key into the code",)
    assert v.rules == ("no-secrets",)
    (j,) = v.details["judge"]
    assert (j["rule"], j["tier"], j["decision"], j["violates"], j["fallback"]) == (
        "no-secrets", "deny", "deny", True, None
    )  # fmt: skip
    assert j["tokens_in"] > 0 and j["tokens_out"] > 0
    assert (v.tokens_in, v.tokens_out) == (j["tokens_in"], j["tokens_out"])


def test_the_fixed_prompt_carries_principle_examples_and_the_redacted_diff(
    tmp_path: Path, server: FakeChatServer
) -> None:
    task = _task(tmp_path, _constitution("deny"))
    _gate(task, _pool(server.url)).check(task, task.program, _child(f"X = 2.0\nKEY = {KEY!r}"))
    (req,) = server.log
    msgs = req.body["messages"]
    assert [m["role"] for m in msgs] == ["system", "user", "assistant", "user", "assistant", "user"]
    assert msgs[0]["content"] == SYSTEM_PROMPT
    assert msgs[1]["content"].startswith("Principle: never expose secrets or credentials\n")
    assert json.loads(msgs[2]["content"]) == {"violates": True, "reasons": "a key in the code"}
    # An example without reasons gets a neutral one, so every answer the model sees has the same shape.
    assert json.loads(msgs[4]["content"])["violates"] is False
    last = msgs[-1]["content"]
    assert "+KEY = 'sk-***'" in last and KEY not in json.dumps(req.body)  # redacted before it leaves
    assert last.endswith("Does this change violate the principle?")
    assert (req.body["temperature"], req.body["seed"]) == (0.0, 0)
    assert "response_format" not in req.body  # the model did not declare structured outputs


def test_a_structured_output_endpoint_gets_the_json_schema(tmp_path: Path, server: FakeChatServer) -> None:
    task = _task(tmp_path, _constitution("deny"))
    pool = _pool(server.url, model=_model(server.url, structured_output=True))
    _gate(task, pool).check(task, task.program, _child("X = 2.0"))
    fmt = server.log[0].body["response_format"]
    assert fmt["type"] == "json_schema" and fmt["json_schema"]["schema"] == SCHEMA


def test_no_violation_allows_and_still_records_the_verdict_and_its_cost(
    tmp_path: Path, server: FakeChatServer, reply: list[str]
) -> None:
    reply[0] = _verdict(False, "the key is read from the environment")
    task = _task(tmp_path, _constitution("deny"))
    v = _gate(task, _pool(server.url)).check(task, task.program, _child("X = 2.0"))
    assert v.decision == "allow" and v.reasons == () and v.rules == ()
    (j,) = v.details["judge"]
    assert (j["violates"], j["reasons"], j["decision"]) == (
        False,
        "the key is read from the environment",
        "allow",
    )
    assert v.tokens_in > 0 and v.to_dict()["tokens_in"] == v.tokens_in


def test_a_violation_under_require_approval_waits_for_a_human(tmp_path: Path, server: FakeChatServer) -> None:
    task = _task(tmp_path, _constitution("require_approval"))
    v = _gate(task, _pool(server.url)).check(task, task.program, _child("X = 2.0"))
    assert v.decision == "require_approval" and v.details["judge"][0]["tier"] == "require_approval"


@pytest.mark.parametrize("tier", ["deny", "require_approval"])
def test_static_rules_run_first_and_the_model_is_not_asked_when_they_decide(
    tmp_path: Path, server: FakeChatServer, tier: str
) -> None:
    task = _task(tmp_path, _constitution(tier))
    v = _gate(task, _pool(server.url)).check(task, task.program, _child("X = 2.0\nimport subprocess"))
    assert v.decision == "deny" and v.rules == ("no-subprocess",)
    assert server.log == [] and "judge" not in v.details
    assert v.details["judge_skipped"] == "the static rules decided deny; no model was asked"
    assert v.tokens_in == v.tokens_out == 0


@pytest.mark.parametrize(
    ("on_error", "decision"), [(None, "require_approval"), ("deny", "deny"), ("allow", "allow")]
)
def test_a_malformed_reply_takes_the_configured_fallback_and_says_so(
    tmp_path: Path, server: FakeChatServer, reply: list[str], on_error: str | None, decision: str
) -> None:
    reply[0] = "Yes. The change violates the principle."
    task = _task(tmp_path, _constitution("deny", on_error))
    v = _gate(task, _pool(server.url)).check(task, task.program, _child("X = 2.0"))
    assert v.decision == decision
    (j,) = v.details["judge"]
    want = decision
    assert j["fallback"].startswith(f"fallback: {want} because the model's reply is malformed (not JSON")
    assert j["violates"] is None and j["reply"] == "Yes. The change violates the principle."
    assert j["tokens_out"] > 0  # a malformed reply still cost tokens, and they are counted
    # Never silent: even an `allow` fallback is a reason on the verdict.
    assert v.reasons == (f"[no-secrets] {j['fallback']}",) and v.rules == ("no-secrets",)


def _closed_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


def test_an_unreachable_model_takes_the_fallback(tmp_path: Path) -> None:
    task = _task(tmp_path, _constitution("deny"))
    v = _gate(task, _pool(_closed_url())).check(task, task.program, _child("X = 2.0"))
    assert v.decision == "require_approval"
    (j,) = v.details["judge"]
    assert j["fallback"].startswith(
        "fallback: require_approval because the model is unavailable: no model could"
    )
    assert j["notes"]  # the pool's failover notes come along


def test_no_pool_at_all_takes_the_fallback(tmp_path: Path) -> None:
    task = _task(tmp_path, _constitution("deny", "deny"))

    def broken() -> Any:
        raise LLMError("no language model can be used: missing package")

    v = _gate(task, broken).check(task, task.program, _child("X = 2.0"))
    assert v.decision == "deny"
    assert v.details["judge"][0]["fallback"] == (
        "fallback: deny because no model is available: no language model can be used: missing package"
    )
    v = _gate(task, None).check(task, task.program, _child("X = 2.0"))
    assert "the guard was built without a model pool" in v.details["judge"][0]["fallback"]


def test_a_spent_budget_takes_the_fallback_without_a_call(tmp_path: Path, server: FakeChatServer) -> None:
    task = _task(tmp_path, _constitution("deny", "allow"))
    v = _gate(task, _pool(server.url, max_tokens=50)).check(task, task.program, _child("X = 2.0"))
    assert v.decision == "allow" and server.log == []
    assert v.details["judge"][0]["fallback"].startswith("fallback: allow because the model budget is spent")


def test_the_budget_is_shared_with_the_proposer(tmp_path: Path, server: FakeChatServer) -> None:
    """One pool for the run: what the judge spends comes off the cap the proposer works within."""
    task = _task(tmp_path, _constitution("deny"))
    shared = _pool(server.url, max_tokens=4000)
    gate = _gate(task, shared)
    gate.check(task, task.program, _child("X = 2.0"))
    assert shared.built is not None and shared.built.tokens > 0
    assert shared() is shared.built


def test_the_same_pool_reaches_the_proposer_and_the_guard(tmp_path: Path, server: FakeChatServer) -> None:
    from godel.parts import build_parts

    task = _task(
        tmp_path,
        _constitution("deny"),
        "proposer.kind='llm'",
        "llm.cache=false",
        f"llm.models=[{{backend='openai', model='fake-model', base_url='{server.url}'}}]",
    )
    with build_parts(task, f"sqlite:///{tmp_path / 'g.db'}") as parts:
        assert parts.guard is not None
        gate = parts.guard.gate
        assert isinstance(gate, ConstitutionGate) and gate.llm is not None
        assert parts.proposer.llm is gate.llm()  # type: ignore[attr-defined]


def test_long_diffs_are_cut_and_the_evidence_says_so(tmp_path: Path, server: FakeChatServer) -> None:
    extra = "      max_diff_chars: 300"
    task = _task(tmp_path, _constitution("deny").replace("      examples:", extra + "\n      examples:"))
    body = "X = 2.0\n" + "".join(f"Y{i} = {i}\n" for i in range(200))
    v = _gate(task, _pool(server.url)).check(task, task.program, _child(body))
    assert v.details["judge"][0]["diff_cut_chars"] > 1000
    assert "more characters not shown" in server.log[0].body["messages"][-1]["content"]


# -- strict parsing -------------------------------------------------------------------------------------------


def test_parse_accepts_exactly_the_verdict_object() -> None:
    v = parse_verdict('{"violates": false, "reasons": " fine "}')
    assert (v.violates, v.reasons) == (False, "fine")


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("yes", "not JSON"),
        ('```json\n{"violates": true, "reasons": "x"}\n```', "not JSON"),
        ('{"violates": true, "reasons": "x"} and more', "not JSON"),
        ('["violates"]', "a JSON list, not an object"),
        ('{"violates": true}', "keys ['violates'], not exactly"),
        ('{"violates": true, "reasons": "x", "score": 1}', "not exactly"),
        ('{"violates": "yes", "reasons": "x"}', "violates is 'yes', not true or false"),
        ('{"violates": 1, "reasons": "x"}', "violates is 1"),
        ('{"violates": true, "reasons": ["x"]}', "reasons is list, not a string"),
    ],
)
def test_parse_refuses_anything_else(text: str, why: str) -> None:
    with pytest.raises(MalformedVerdict, match=re.escape(why)):
        parse_verdict(text)


def test_the_grammar_compiles_and_only_yields_parseable_verdicts() -> None:
    llama_cpp = pytest.importorskip("llama_cpp")
    assert llama_cpp.LlamaGrammar.from_string(GRAMMAR, verbose=False) is not None


def test_the_embedded_model_under_the_grammar_answers_a_parseable_verdict(tmp_path: Path) -> None:
    pytest.importorskip("llama_cpp")
    try:
        pool = make_llm(LLMConfig(models=(ModelConfig(n_threads=1, timeout_seconds=60),), cache=False))
    except LLMError as exc:
        pytest.skip(f"embedded model unavailable: {exc}")
    task = _task(tmp_path, _constitution("deny"))
    v = _gate(task, lambda: pool).check(task, task.program, _child(f"X = 2.0\nKEY = {KEY!r}"))
    (j,) = v.details["judge"]
    # Whatever a 135M model thinks of the change, the grammar makes its answer a verdict, never a fallback.
    assert j["fallback"] is None and isinstance(j["violates"], bool) and j["reasons"]
    assert j["model"] == "embedded:smollm2-135m" or j["model"].startswith("embedded")


# -- configuration --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "where"),
    [
        ("{principle: x, on_error: maybe}", "deny.0.params.on_error"),
        ("{examples: []}", "deny.0.params.principle"),
        ("{principle: '  '}", "deny.0.params.principle"),
        ("{principle: x, model: gpt}", "deny.0.params.model: unknown key"),
        ("{principle: x, examples: [{diff: '+x', reasons: r}]}", "deny.0.params.examples.0.violates"),
    ],
)
def test_bad_params_fail_at_load_in_one_line_naming_the_field(
    tmp_path: Path, params: str, where: str
) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        f"version: 1\nname: bad\ndeny:\n  - id: j\n    check: model_judge\n    params: {params}\n"
    )
    with pytest.raises(GuardError) as info:
        load_constitution(path)
    msg = str(info.value)
    assert where in msg and "\n" not in msg


def test_model_judge_is_a_registered_judged_check() -> None:
    assert CHECKS["model_judge"].judged and not CHECKS["forbidden_imports"].judged


def test_the_default_constitution_has_no_model_judged_rule() -> None:
    c = load_constitution(None).constitution
    assert not [r for r in (*c.deny, *c.require_approval) if CHECKS[r.check].judged]


# -- the pipeline ---------------------------------------------------------------------------------------------


def _score(request: EvaluationRequest) -> object:
    return ok_evaluation(1.0 + len(request.program.files["initial_program.py"]) / 1000)


def _engine(task: Task, archive: Archive, guard_pool: SharedPool, proposer: ScriptedProposer) -> Engine:
    return Engine(
        task,
        archive,
        proposer=proposer,
        selector_factory=lambda: make_selector(task.config.selector),
        executor=ScriptedExecutor(_score),  # type: ignore[arg-type]
        guard=make_guard(task.config.guard, task, llm=guard_pool),
    )


def test_the_pipeline_records_the_judgement_counts_its_tokens_and_obeys_it(
    tmp_path: Path, archive: Archive, server: FakeChatServer, reply: list[str]
) -> None:
    reply[:] = [_verdict(True, "writes a key into the code"), _verdict(False, "nothing secret here")]
    task = _task(tmp_path, _constitution("deny"), "run.iterations=2", "proposer.kind='mutate'")
    children = [_child(f"X = 2.0\nKEY = {KEY!r}"), _child("X = 3.0")]
    summary = _engine(task, archive, _pool(server.url), ScriptedProposer(children)).run()
    denied, ok = archive.candidates(summary.run_id)[1:]
    assert denied.status == Status.REJECTED and denied.failure_stage == "guard"
    assert denied.reason == "guard: [no-secrets] model judge (openai:fake-model): writes a key into the code"
    assert ok.status == Status.OK
    for cand in (denied, ok):
        (j,) = cand.verdict["details"]["judge"]
        assert cand.tokens_in == j["tokens_in"] > 0 and cand.tokens_out == j["tokens_out"] > 0
    events = [e for e in archive.events(summary.run_id) if e.kind == "judge"]
    assert [(e.payload["candidate"], e.payload["decision"], e.actor) for e in events] == [
        (denied.id, "deny", "guard"),
        (ok.id, "allow", "guard"),
    ]
    assert events[0].payload["rules"][0]["reasons"] == "writes a key into the code"
    assert KEY not in json.dumps([e.payload for e in archive.events(summary.run_id)])
    assert (
        archive.stats(summary.run_id).tokens
        == denied.tokens_in + denied.tokens_out + ok.tokens_in + ok.tokens_out
    )


def test_the_judges_tokens_count_against_the_runs_token_budget(
    tmp_path: Path, archive: Archive, server: FakeChatServer, reply: list[str]
) -> None:
    reply[0] = _verdict(False, "fine")
    task = _task(
        tmp_path, _constitution("deny"), "run.iterations=10", "run.max_tokens=1", "proposer.kind='mutate'"
    )
    children = [_child(f"X = {i}.5") for i in range(10)]
    summary = _engine(task, archive, _pool(server.url), ScriptedProposer(children)).run()
    # The scripted proposer spends no tokens: only the judge's stop the run, after its first consultation.
    assert summary.stopped == "tokens"
    assert len(archive.candidates(summary.run_id)) == 2 and len(server.log) == 1


def test_a_failing_judge_in_the_pipeline_holds_the_candidate_for_a_human(
    tmp_path: Path, archive: Archive
) -> None:
    task = _task(tmp_path, _constitution("deny"), "run.iterations=1", "proposer.kind='mutate'")
    summary = _engine(task, archive, _pool(_closed_url()), ScriptedProposer([_child("X = 2.0")])).run()
    held = archive.candidates(summary.run_id)[1]
    assert held.status == Status.AWAITING_APPROVAL
    assert "fallback: require_approval because the model is unavailable" in (held.reason or "")
    (ev,) = [e for e in archive.events(summary.run_id) if e.kind == "judge"]
    assert ev.payload["rules"][0]["fallback"].startswith("fallback: require_approval")


def test_a_verdict_without_a_judge_stays_as_it_was() -> None:
    assert "tokens_in" not in Verdict("allow").to_dict()


def test_after_a_judged_denial_the_remaining_judges_are_not_asked(
    tmp_path: Path, server: FakeChatServer
) -> None:
    second = """  - id: no-deletes
    check: model_judge
    params: {principle: never delete data without approval}"""
    task = _task(tmp_path, _constitution("deny").replace("\nallow:", second + "\nallow:", 1))
    v = _gate(task, _pool(server.url)).check(task, task.program, _child("X = 2.0"))
    assert v.decision == "deny" and len(server.log) == 1
    assert [j["rule"] for j in v.details["judge"]] == ["no-secrets"]
    assert v.details["judge_skipped"] == "no-deletes: not asked, an earlier judged rule denied"


def test_a_call_the_pools_cap_refuses_takes_the_fallback(tmp_path: Path, server: FakeChatServer) -> None:
    """The pool still has room for a small call (not exhausted), but not for this one: it refuses it."""
    extra = "      max_tokens: 400"
    task = _task(tmp_path, _constitution("deny").replace("      examples:", extra + "\n      examples:"))
    shared = _pool(server.url, max_tokens=520)
    v = _gate(task, shared).check(task, task.program, _child("X = 2.0"))
    assert server.log == [] and v.decision == "require_approval"
    (j,) = v.details["judge"]
    assert j["fallback"].startswith(
        "fallback: require_approval because the model budget is spent: token cap llm.max_tokens=520 reached"
    )
    assert j["notes"] and "skipped" in j["notes"][0]


def test_a_shared_pool_is_built_once_and_remembers_why_it_could_not_be() -> None:
    calls: list[LLMConfig] = []

    def build(config: LLMConfig) -> Any:
        calls.append(config)
        raise LLMError("no language model can be used: nothing installed")

    shared = SharedPool(LLMConfig(cache=False), build=build)
    for _ in range(3):
        with pytest.raises(LLMError, match="nothing installed"):
            shared()
    assert len(calls) == 1 and shared.built is None
