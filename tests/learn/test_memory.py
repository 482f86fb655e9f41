"""Strategy memory and replay over a real archive: improving edits and failures queried, sampled and retrieved by
similarity, and shown to the model when ``proposer.strategies`` asks for them."""

from __future__ import annotations

import random
from pathlib import Path

from godel.archive import open_archive
from godel.candidate import Candidate, Program, Status
from godel.config import ProposerConfig
from godel.engine import Engine
from godel.executor.testing import EvaluationRequest, ScriptedExecutor, failed_evaluation, ok_evaluation
from godel.learn import Memory, StrategyIndex, strategy_of
from godel.propose import PromptBuilder, ProposalContext, SearchReplace
from godel.propose.testing import ScriptedProposer
from godel.select import make_selector
from tests.learn.test_predict import _task, _x


def _step(ctx: object) -> SearchReplace:
    """Even iterations raise X; odd ones set it negative, which the evaluator fails."""
    x = _x(ctx.parent.program)  # type: ignore[attr-defined]
    if ctx.iteration % 2 == 0:  # type: ignore[attr-defined]
        return SearchReplace(f"X = {x!r}", f"X = {x + 1.0!r}")
    return SearchReplace(f"X = {x!r}", f"X = {-x - 1.0!r}")


def _score(request: EvaluationRequest) -> object:
    x = _x(request.program)
    return ok_evaluation(x) if x >= 0 else failed_evaluation(f"X must not be negative, got {x}")


def _run(tmp_path: Path, iterations: int, *extra: str) -> tuple[str, int, ScriptedProposer]:
    task = _task(tmp_path, iterations, "selector.name=greedy", *extra)
    url = f"sqlite:///{tmp_path}/a.db"
    archive = open_archive(url)
    proposer = ScriptedProposer(respond=_step)
    try:
        summary = Engine(
            task,
            archive,
            proposer=proposer,
            selector_factory=lambda: make_selector(task.config.selector),
            executor=ScriptedExecutor(_score),  # type: ignore[arg-type]
        ).run()
    finally:
        archive.close()
    return url, summary.run_id, proposer


def test_strategies_and_failures_are_queried_from_the_archive(tmp_path: Path) -> None:
    url, run_id, _ = _run(tmp_path, 10)
    archive = open_archive(url)
    try:
        memory = Memory(archive)
        strategies = memory.strategies()
        assert strategies and all(s.run_id == run_id and s.gain > 0 for s in strategies)
        assert [s.gain for s in strategies] == sorted((s.gain for s in strategies), reverse=True)
        assert all("+X = " in s.diff and "EVOLVE" in s.words for s in strategies)  # context lines count
        failures = memory.failures(kind="evaluate")
        assert failures and all("must not be negative" in f.reason for f in failures)
        assert memory.failures(contains="NEGATIVE") == failures  # the text filter ignores case
        assert memory.failures(proposer="scripted", kind="evaluate") == failures
        assert memory.failures(proposer="llm") == [] and memory.failures(model="m") == []
        assert memory.failures(kind="evaluate", limit=1) == failures[:1]
        a = memory.sample_failures(2, random.Random(3), kind="evaluate")
        assert a == memory.sample_failures(2, random.Random(3), kind="evaluate") and len(a) == min(
            2, len(failures)
        )
        assert memory.strategies(limit=1) == strategies[:1]
    finally:
        archive.close()


def _cand(cid: int, parent: int | None, score: float, diff: str) -> Candidate:
    return Candidate(run_id=1, iteration=cid, program=Program.single("p.py", ""), id=cid, parent_id=parent,
                     status=Status.OK, score=score, diff=diff)  # fmt: skip


def test_retrieval_prefers_edits_of_code_the_parent_still_has() -> None:
    root = _cand(1, None, 1.0, "")
    about_speed = strategy_of(
        _cand(2, 1, 2.0, "-    speed = slow_path(values)\n+    speed = fast_path(values)\n"), root
    )
    about_names = strategy_of(
        _cand(3, 1, 5.0, "-    label = format_name(person)\n+    label = person.name\n"), root
    )
    worse = strategy_of(_cand(4, 1, 0.5, "-a\n+b\n"), root)
    assert about_speed is not None and about_names is not None and worse is None
    index = StrategyIndex([about_speed, about_names])
    parent = Program.single("p.py", "def run(values):\n    speed = slow_path(values)\n    return speed\n")
    assert index.similar(parent, 2) == [about_speed]  # the other edit's code is not in this program
    assert index.similar(parent, 0) == [] and index.similar(parent, 2, exclude=2) == []


def test_the_model_sees_remembered_edits_only_when_asked(tmp_path: Path) -> None:
    _, _, off = _run(tmp_path / "off", 12)
    assert all(ctx.strategies == () for ctx in off.contexts)
    _, _, on = _run(tmp_path / "on", 12, "proposer.strategies=2")
    shown = [ctx.strategies for ctx in on.contexts if ctx.strategies]
    assert shown and all(len(s) <= 2 for s in shown)
    assert all("over its parent" in text and "+X = " in text for s in shown for text in s)
    # What an iteration is shown depends only on earlier iterations: a second run shows exactly the same.
    _, _, again = _run(tmp_path / "again", 12, "proposer.strategies=2")
    assert [c.strategies for c in again.contexts] == [c.strategies for c in on.contexts]


def test_remembered_edits_are_in_the_prompt_and_cut_first(tmp_path: Path) -> None:
    task = _task(tmp_path, 1)
    parent = Candidate(run_id=1, iteration=0, program=task.program, id=1, status=Status.OK, score=1.0)
    memo = "candidate 7 (+0.5 over its parent, by llm)\n-X = 1.0\n+X = 2.0"
    ctx = ProposalContext(task=task, parent=parent, iteration=1, strategies=(memo,))
    on = PromptBuilder(ProposerConfig(strategies=1)).build(ctx, "edit it")
    assert "An edit that improved similar code, candidate 7" in on[1].content and "+X = 2.0" in on[1].content
    off = PromptBuilder(ProposerConfig()).build(ctx, "edit it")
    assert "An edit that improved" not in off[1].content
    tight = PromptBuilder(ProposerConfig(strategies=1, prompt_tokens=256)).build(
        ProposalContext(task=task, parent=parent, iteration=1, strategies=("x\n" + "+y = 1\n" * 400,)),
        "edit it",
    )
    assert "An edit that improved" not in tight[1].content
