"""Planned-edit grammars and prompts (no model needed, except llama.cpp's grammar parser)."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from godel.candidate import Candidate, Status
from godel.config import Config, ProposerConfig
from godel.errors import ConfigError
from godel.llm import estimate_tokens
from godel.propose import (
    FULL_REWRITE_GRAMMAR,
    PromptBuilder,
    ProposalContext,
    edit_spans,
    gbnf_literal,
    plan_edit,
)
from godel.task import load_task
from tests.helpers import EXAMPLES, write_task


def _llama_grammar(text: str) -> object:
    import llama_cpp

    return llama_cpp.LlamaGrammar.from_string(text, verbose=False)


def test_spans_are_unique_statements_inside_the_region() -> None:
    task = load_task(EXAMPLES / "function_minimization")
    code = task.program.files[task.program.main_path]
    spans = edit_spans(task, task.program)
    region = task.regions(task.program)[0]
    assert len(spans) >= 8
    for s in spans:
        assert region.start <= s.start < s.end <= region.end
        assert ("\n" + code).count("\n" + s.text) == 1
        assert '"""' not in s.text  # docstrings are not offered


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_every_plan_compiles_and_starts_a_matching_block(seed: int) -> None:
    task = load_task(EXAMPLES / "function_minimization")
    plan = plan_edit(task, task.program, random.Random(seed))
    assert plan is not None
    assert plan.prefill.startswith("<<<<<<< SEARCH\n" + plan.span.text + "=======\n")
    _llama_grammar(plan.grammar)
    _llama_grammar(plan.full_grammar)
    if plan.op == "substitute":
        assert plan.old and plan.old in plan.span.text


def test_full_rewrite_grammar_and_literals_compile() -> None:
    _llama_grammar(FULL_REWRITE_GRAMMAR)
    _llama_grammar("root ::= " + gbnf_literal('a "quoted"\\ line\n\tand\x01 more é'))


def test_non_python_program_has_no_plan(tmp_path: object) -> None:
    task = load_task(EXAMPLES / "function_minimization")
    broken = task.program.replace(task.program.main_path, "def (:\n")
    assert plan_edit(task, broken, random.Random(0)) is None


def _ctx(task: object, **kw: object) -> ProposalContext:
    from godel.task import Task

    assert isinstance(task, Task)
    parent = Candidate(run_id=1, iteration=0, program=task.program, id=1, status=Status.OK, score=0.5)
    parent.metrics = {"combined_score": 0.5, "distance": 1.25}
    parent.artifacts = {"stderr": "Traceback: ZeroDivisionError"}
    return ProposalContext(task=task, parent=parent, iteration=1, **kw)  # type: ignore[arg-type]


def test_prompt_holds_code_metrics_feedback_and_inspirations() -> None:
    task = load_task(EXAMPLES / "function_minimization")
    insp = Candidate(run_id=1, iteration=2, program=task.program, id=2, status=Status.OK, score=0.9)
    msgs = PromptBuilder(ProposerConfig()).build(
        _ctx(task, inspirations=(insp,), feedback=("block 1: SEARCH not found",)), "DO IT"
    )
    user = msgs[1].content
    for needle in (
        "search_algorithm",
        "distance: 1.25",
        "ZeroDivisionError",
        "SEARCH not found",
        "score 0.9",
        "DO IT",
    ):
        assert needle in user


def test_prompt_is_trimmed_to_the_budget() -> None:
    big = "# EVOLVE-BLOCK-START\n" + "".join(f"x{i} = {i}\n" for i in range(3000)) + "# EVOLVE-BLOCK-END\n"
    task = load_task(
        write_task(
            __import__("pathlib").Path(__import__("tempfile").mkdtemp()),
            {
                "initial_program.py": big,
                "evaluator.py": "def evaluate(p):\n    return {'combined_score': 1.0}\n",
            },
        )
    )
    insp = Candidate(run_id=1, iteration=2, program=task.program, id=2, status=Status.OK, score=0.9)
    msgs = PromptBuilder(ProposerConfig(prompt_tokens=600)).build(_ctx(task, inspirations=(insp,)), "DO IT")
    total = sum(estimate_tokens(m.content) for m in msgs)
    assert total <= 700
    assert "lines omitted" in msgs[1].content and "Another version" not in msgs[1].content
    assert "DO IT" in msgs[1].content


def test_user_templates_override_and_unknown_fields_fail(tmp_path: object) -> None:
    from pathlib import Path

    root = write_task(
        Path(str(tmp_path)),
        {
            "initial_program.py": "x = 1\n",
            "evaluator.py": "def evaluate(p):\n    return {'combined_score': 1.0}\n",
            "prompts/user.txt": "CODE:\n$code\nDO: $instructions\n",
            "prompts/bad.txt": "$nope\n",
        },
    )
    task = load_task(root)
    cfg = ProposerConfig(user_prompt="prompts/user.txt")
    msgs = PromptBuilder(cfg).build(_ctx(task), "change x")
    assert msgs[1].content == "CODE:\nx = 1\n\nDO: change x\n"
    with pytest.raises(ConfigError, match=r"unknown field\(s\) nope"):
        PromptBuilder(ProposerConfig(system_prompt="prompts/bad.txt")).build(_ctx(task), "x")
    assert Config().proposer.user_prompt is None
