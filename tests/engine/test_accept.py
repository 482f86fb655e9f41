"""Noise-aware acceptance through the whole pipeline: scripted proposals, a scripted noisy evaluator, real SQLite."""

from __future__ import annotations

import random
import re
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from godel.archive import Archive, open_archive
from godel.candidate import Evaluation, Program, Status
from godel.engine import Engine
from godel.executor.testing import EvaluationRequest, ScriptedExecutor, ok_evaluation
from godel.propose.testing import ScriptedProposer
from godel.select import make_selector
from godel.task import Task, load_task
from tests.helpers import write_task

SEED = "# EVOLVE-BLOCK-START\nX = 1.0\n# EVOLVE-BLOCK-END\n"
_X = re.compile(r"^X = (?P<v>[-0-9.e]+)$", re.M)


def _task(tmp_path: Path, iterations: int, *extra: str) -> Task:
    root = write_task(
        tmp_path / "t",
        {
            "initial_program.py": SEED,
            "evaluator.py": "def evaluate(path):\n    return {'combined_score': 0.0}\n",
        },
    )
    return load_task(root, [f"run.iterations={iterations}", "guard.enabled=false", "run.parallel=1", *extra])


def _child(x: float) -> Program:
    return Program.single("initial_program.py", SEED.replace("X = 1.0", f"X = {x!r}"))


def _x(program: Program) -> float:
    m = _X.search(program.files["initial_program.py"])
    assert m is not None
    return float(m["v"])


class Noisy:
    """An evaluator whose score is X plus Gaussian noise of ``std`` (seeded: the test is reproducible)."""

    def __init__(self, std: float, seed: int = 0) -> None:
        self.std = std
        self.rng = random.Random(seed)
        self.lock = threading.Lock()

    def __call__(self, request: EvaluationRequest) -> Evaluation:
        with self.lock:
            jitter = self.rng.gauss(0.0, self.std)
        return ok_evaluation(_x(request.program) + jitter)


@pytest.fixture
def archive(tmp_path: Path) -> Iterator[Archive]:
    a = open_archive(f"sqlite:///{tmp_path}/a.db")
    yield a
    a.close()


def _run(task: Task, archive: Archive, children: list[Program], executor: ScriptedExecutor) -> Engine:
    engine = Engine(
        task,
        archive,
        proposer=ScriptedProposer(children),
        selector_factory=lambda: make_selector(task.config.selector),
        executor=executor,
    )
    return engine


def test_the_seed_is_evaluated_several_times_and_the_noise_recorded(tmp_path: Path, archive: Archive) -> None:
    task = _task(tmp_path, 0, "run.noise_samples=4")
    executor = ScriptedExecutor(Noisy(0.1))
    summary = _run(task, archive, [], executor).run()
    assert executor.calls == 5
    run = archive.get_run(summary.run_id)
    noise = run.meta["noise"]
    assert noise["dof"] == 4 and 0.02 < noise["fitness_std"] < 0.3 and not noise["exact"]
    seed = archive.candidates(summary.run_id)[0]
    assert seed.evaluation["noise"]["n"] == 5
    assert seed.score == pytest.approx(sum(seed.evaluation["noise"]["samples"]) / 5)
    assert [e.kind for e in archive.events(summary.run_id)].count("noise") == 1


def test_a_gain_the_noise_explains_is_not_best_and_a_real_one_is(tmp_path: Path, archive: Archive) -> None:
    task = _task(tmp_path, 2, "run.noise_samples=5", "run.race_evaluations=8")
    # X + noise(0.2): +0.02 is a tenth of the noise; +2.0 is ten times it.
    executor = ScriptedExecutor(Noisy(0.2, seed=3))
    summary = _run(task, archive, [_child(1.02), _child(3.0)], executor).run()
    tiny, big = archive.candidates(summary.run_id)[1:]
    assert summary.best is not None and summary.best.id == big.id
    assert big.evaluation["noise"]["accepted"]
    events = archive.events(summary.run_id)
    # With this seed the tiny gain reads 1.8 sigma high once: it is accepted at 2.07 sigma, and its confirmation
    # round rolls it back. Either way it never ends up best.
    assert tiny.status == Status.OK
    rolled = [e.payload["candidate"] for e in events if e.kind == "rollback"]
    assert not tiny.evaluation["noise"]["accepted"] or rolled == [tiny.id]
    assert archive.get_run(summary.run_id).meta["best"]["id"] == big.id


def test_a_near_tie_is_raced_side_by_side_until_decided(tmp_path: Path, archive: Archive) -> None:
    task = _task(tmp_path, 1, "run.noise_samples=5", "run.race_evaluations=10")
    # The seed's six readings (std 0.089), then its race and confirmation rounds.
    seed = iter([1.0, 1.1, 0.9, 1.0, 1.1, 0.9, 1.0, 1.05, 1.0])
    child = iter([1.15, 1.3, 1.25, 1.3])  # 1.6 sigma at first: undecided; one race round decides it

    def script(request: EvaluationRequest) -> Evaluation:
        return ok_evaluation(next(seed if request.program.files["initial_program.py"] == SEED else child))

    executor = ScriptedExecutor(script)
    summary = _run(task, archive, [_child(1.25)], executor).run()
    doc = archive.candidates(summary.run_id)[1].evaluation["noise"]
    assert doc["n"] == 2 and "after racing (2 extra evaluations)" in doc["reason"]
    assert executor.calls == 6 + 1 + 2 + 2  # the seed x6, the child, one race round, the confirmation round
    assert doc["accepted"] and summary.best is not None and summary.best.iteration == 1


def test_an_undecided_race_is_not_an_acceptance(tmp_path: Path, archive: Archive) -> None:
    task = _task(tmp_path, 1, "run.noise_samples=3", "run.race_evaluations=2")
    executor = ScriptedExecutor(Noisy(0.5, seed=5))
    summary = _run(task, archive, [_child(1.2)], executor).run()
    child = archive.candidates(summary.run_id)[1]
    doc = child.evaluation["noise"]
    # 0.2 over noise 0.5 with one race round: the seeded noise leaves it undecided, so it is not accepted.
    assert not doc["accepted"] and "not significantly better" in doc["reason"]
    assert summary.best is not None and summary.best.iteration == 0


def test_the_acceptance_threshold_is_relative(tmp_path: Path, archive: Archive) -> None:
    task = _task(tmp_path, 1, "run.noise_samples=2", "run.acceptance_threshold=0.01")
    executor = ScriptedExecutor(lambda r: ok_evaluation(_x(r.program)))  # exact
    summary = _run(task, archive, [_child(1.005)], executor).run()
    child = archive.candidates(summary.run_id)[1]
    assert not child.evaluation["noise"]["accepted"]
    assert "run.acceptance_threshold=0.01" in child.evaluation["noise"]["reason"]
    assert summary.best is not None and summary.best.iteration == 0


def test_an_exact_evaluator_accepts_any_gain_without_re_evaluating(tmp_path: Path, archive: Archive) -> None:
    task = _task(tmp_path, 2, "run.noise_samples=2")
    executor = ScriptedExecutor(lambda r: ok_evaluation(_x(r.program)))
    summary = _run(task, archive, [_child(1.0001), _child(1.0002)], executor).run()
    assert executor.calls == 3 + 2  # the seed three times, each child once: nothing raced or confirmed
    assert summary.best is not None and summary.best.iteration == 2


def test_a_best_that_fails_its_confirmation_is_rolled_back(tmp_path: Path, archive: Archive) -> None:
    task = _task(tmp_path, 1, "run.noise_samples=3", "run.race_evaluations=0")
    seed_scores = iter([1.0, 1.1, 0.9, 1.0])  # noise std 0.08
    answers = {"seed": seed_scores}

    def script(request: EvaluationRequest) -> Evaluation:
        if request.program.files["initial_program.py"] == SEED:
            return ok_evaluation(next(answers["seed"], 1.0))
        # The child is lucky once (a 5-sigma reading), then shows its real, equal score.
        answers.setdefault("child", iter([1.6, 0.5]))
        return ok_evaluation(next(answers["child"], 1.0))

    summary = _run(task, archive, [_child(2.0)], ScriptedExecutor(script)).run()
    events = archive.events(summary.run_id)
    kinds = [e.kind for e in events]
    assert kinds.count("best") == 1 and kinds.count("rollback") == 1
    rollback = next(e for e in events if e.kind == "rollback")
    assert "confirmation re-evaluation failed" in rollback.payload["reason"]
    assert summary.best is not None and summary.best.iteration == 0
    assert archive.get_run(summary.run_id).meta["best"]["iteration"] == 0


def test_a_resumed_run_keeps_its_noise_and_its_best(tmp_path: Path, archive: Archive) -> None:
    task = _task(tmp_path, 1, "run.noise_samples=3")
    _run(task, archive, [_child(5.0)], ScriptedExecutor(Noisy(0.01))).run()
    more = _task(tmp_path, 2, "run.noise_samples=3")
    executor = ScriptedExecutor(Noisy(0.01, seed=2))
    summary = _run(more, archive, [_child(5.001)], executor).run(resume=True)
    assert executor.calls < 6  # the seed is not measured again
    assert summary.best is not None and summary.best.iteration == 1  # +0.001 is a tenth of the noise
