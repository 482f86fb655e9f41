"""The outcome predictor: learns online which proposals beat their parents, skips the hopeless ones only after it
has seen enough, keeps exploring, and every skip is stored with its reason (a real SQLite archive, scripted
proposer and evaluator)."""

from __future__ import annotations

import re
from pathlib import Path

from godel.archive import open_archive
from godel.candidate import Candidate, Program, Status
from godel.engine import Engine
from godel.executor.testing import EvaluationRequest, ScriptedExecutor, ok_evaluation
from godel.learn import FEATURES, OutcomePredictor, outcome_of
from godel.propose import SearchReplace
from godel.propose.testing import ScriptedProposer
from godel.select import make_selector
from godel.task import Task, load_task
from tests.helpers import write_task

SEED = "# EVOLVE-BLOCK-START\nX = 1.0\n# EVOLVE-BLOCK-END\n"
_X = re.compile(r"^X = (?P<v>[-0-9.e]+)", re.M)


def _x(program: Program) -> float:
    m = _X.search(program.files["initial_program.py"])
    assert m is not None
    return float(m["v"])


def _task(tmp_path: Path, iterations: int, *extra: str) -> Task:
    root = write_task(
        tmp_path / "t",
        {
            "initial_program.py": SEED,
            "evaluator.py": "def evaluate(path):\n    return {'combined_score': 0.0}\n",
        },
    )
    return load_task(
        root,
        [
            f"run.iterations={iterations}",
            "guard.enabled=false",
            "run.noise_samples=0",
            "run.parallel=1",
            *extra,
        ],
    )


def _alternate(ctx: object) -> SearchReplace:
    """Even iterations raise X (an improvement); odd ones add a helper and lower X (never better)."""
    parent = ctx.parent.program  # type: ignore[attr-defined]
    x = _x(parent)
    if ctx.iteration % 2 == 0:  # type: ignore[attr-defined]
        return SearchReplace(f"X = {x!r}", f"X = {x + 1.0!r}")
    return SearchReplace(f"X = {x!r}", f"X = {x - 0.5!r}\n\n\ndef helper_{ctx.iteration}():\n    return 0")  # type: ignore[attr-defined]


def _score(request: EvaluationRequest) -> object:
    return ok_evaluation(_x(request.program))


def _run(tmp_path: Path, iterations: int, *extra: str) -> tuple[list[Candidate], ScriptedExecutor]:
    task = _task(tmp_path, iterations, *extra)
    archive = open_archive(f"sqlite:///{tmp_path}/a.db")
    executor = ScriptedExecutor(_score)  # type: ignore[arg-type]
    try:
        summary = Engine(
            task,
            archive,
            proposer=ScriptedProposer(respond=_alternate),
            selector_factory=lambda: make_selector(task.config.selector),
            executor=executor,
        ).run()
        return archive.candidates(summary.run_id), executor
    finally:
        archive.close()


def _reached(cands: list[Candidate]) -> list[Candidate]:
    """The candidates that reached the evaluator (the seed included; duplicates and skips did not)."""
    return [c for c in cands if c.failure_stage not in ("duplicate", "predicted")]


def test_off_by_default_every_proposal_is_evaluated(tmp_path: Path) -> None:
    cands, executor = _run(tmp_path, 20)
    assert executor.calls == len(_reached(cands)) and not any(c.failure_stage == "predicted" for c in cands)
    assert not any("prediction" in c.evaluation for c in cands)


def test_it_learns_to_skip_what_never_improves_and_says_why(tmp_path: Path) -> None:
    cands, executor = _run(
        tmp_path,
        60,
        "learn.predictor=true",
        "learn.min_observations=10",
        "learn.skip_below=0.2",
        "learn.explore=0",
    )
    skipped = [c for c in cands if c.failure_stage == "predicted"]
    assert skipped, "nothing was skipped"
    assert executor.calls == len(_reached(cands))  # a skip costs no evaluation
    for c in skipped:
        assert c.status == Status.REJECTED and c.score is None
        assert "below learn.skip_below 0.2" in (c.reason or "")
        assert c.evaluation["prediction"]["skip"] is True
    # What it skipped were the helper-adding proposals, never one that would have improved.
    assert all("def helper_" in (c.diff or "") for c in skipped)
    assert all(c.iteration > 10 for c in skipped)  # nothing before it had seen enough
    # Every evaluated proposal carries the prediction made for it.
    assert all("prediction" in c.evaluation for c in _reached(cands)[1:])


def test_exploration_evaluates_would_be_skips(tmp_path: Path) -> None:
    cands, executor = _run(
        tmp_path,
        40,
        "learn.predictor=true",
        "learn.min_observations=10",
        "learn.skip_below=0.2",
        "learn.explore=1",
    )
    assert executor.calls == len(_reached(cands)) and not any(c.failure_stage == "predicted" for c in cands)
    explored = [c for c in cands if c.evaluation.get("prediction", {}).get("explored")]
    assert explored and all(c.status == Status.OK for c in explored)


def test_only_evaluated_candidates_teach_it(tmp_path: Path) -> None:
    parent = Candidate(run_id=1, iteration=0, program=Program.single("p.py", "X = 1\n"), id=1, score=1.0,
                       status=Status.OK)  # fmt: skip
    child = Program.single("p.py", "X = 2\n")
    rejected = Candidate(run_id=1, iteration=1, program=child, parent_id=1, status=Status.REJECTED,
                         failure_stage="duplicate")  # fmt: skip
    better = Candidate(run_id=1, iteration=2, program=child, parent_id=1, status=Status.OK, score=2.0)
    flagged = Candidate(run_id=1, iteration=3, program=child, parent_id=1, status=Status.OK, score=9.0,
                        flags=["jump"])  # fmt: skip
    crashed = Candidate(run_id=1, iteration=4, program=child, parent_id=1, status=Status.FAILED,
                        failure_stage="evaluate")  # fmt: skip
    assert outcome_of(rejected, parent) is None
    assert outcome_of(better, parent) is not None and outcome_of(better, parent).improved  # type: ignore[union-attr]
    assert not outcome_of(flagged, parent).improved  # type: ignore[union-attr]  # a flagged winner is no gain
    assert not outcome_of(crashed, parent).ok  # type: ignore[union-attr]
    pred = OutcomePredictor()
    for c in (rejected, better, flagged, crashed):
        pred.observe(parent, c)
    assert pred.observations == 3
    p = pred.predict(parent, child, "-X = 1\n+X = 2\n", "mutate")
    assert 0 < p.p_ok < 1 and 0 < p.p_improve < 1 and not p.skip  # below min_observations nothing is skipped
    assert set(pred.weights()) == set(FEATURES)
