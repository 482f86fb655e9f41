"""The candidate pipeline and both schedulers with scripted fakes (no sandbox, no model), on a real SQLite archive.

Each test drives :class:`~godel.engine.Engine` or :class:`~godel.engine.Worker` with a
:class:`~godel.propose.testing.ScriptedProposer` and a :class:`~godel.executor.testing.ScriptedExecutor`, so it
sees exactly which stage stopped a candidate and what each stage was asked.
"""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest

from godel.archive import Archive, open_archive
from godel.candidate import Program, Status
from godel.engine import MAX_INFRA_ERRORS, Engine, Worker, WorkerConfig
from godel.errors import SandboxError, TaskError
from godel.executor.testing import EvaluationRequest, ScriptedExecutor, failed_evaluation, ok_evaluation
from godel.guard import ConstitutionGate, Guard, GuardConfig, HackingDetector
from godel.propose import SearchReplace
from godel.propose.testing import Fail, ScriptedProposer
from godel.select import make_selector
from godel.task import Task, load_task
from tests.helpers import write_task

SEED = "import math\n# EVOLVE-BLOCK-START\nX = 1.0\n# EVOLVE-BLOCK-END\n"
_X = re.compile(r"^X = (?P<v>[-0-9.e]+)", re.M)


def _task(tmp_path: Path, iterations: int, *extra: str) -> Task:
    root = write_task(
        tmp_path / "t",
        {
            "initial_program.py": SEED,
            "evaluator.py": "def evaluate(path):\n    return {'combined_score': 0.0}\n",
        },
    )
    # No noise measurement unless a test asks for one: these tests count evaluations.
    return load_task(
        root, [f"run.iterations={iterations}", "guard.enabled=false", "run.noise_samples=0", *extra]
    )


def _x(program: Program) -> float:
    m = _X.search(program.files["initial_program.py"])
    assert m is not None
    return float(m["v"])


def _score(request: EvaluationRequest) -> object:
    """The scripted evaluator: the score is X itself, so a child that raises X improves."""
    return ok_evaluation(_x(request.program))


def _engine(
    task: Task, archive: Archive, proposer: ScriptedProposer, executor: ScriptedExecutor, **kw: object
) -> Engine:
    return Engine(
        task,
        archive,
        proposer=proposer,
        selector_factory=lambda: make_selector(task.config.selector),
        executor=executor,
        **kw,  # type: ignore[arg-type]
    )


@pytest.fixture
def archive(tmp_path: Path) -> Archive:
    a = open_archive(f"sqlite:///{tmp_path}/a.db")
    yield a  # type: ignore[misc]
    a.close()


def _raise_x(ctx: object) -> SearchReplace:
    parent = ctx.parent.program  # type: ignore[attr-defined]
    return SearchReplace(f"X = {_x(parent)!r}", f"X = {_x(parent) + 1.0!r}")


def test_every_stage_in_order_for_a_good_proposal(tmp_path: Path, archive: Archive) -> None:
    task = _task(tmp_path, 3, "run.parallel=1")
    proposer = ScriptedProposer(respond=_raise_x)
    executor = ScriptedExecutor(_score)  # type: ignore[arg-type]
    summary = _engine(task, archive, proposer, executor).run()
    assert summary.stopped == "iterations"
    cands = archive.candidates(summary.run_id)
    assert [c.status for c in cands] == [Status.OK] * 4
    assert summary.best is not None and summary.best.score == max(
        c.score for c in cands if c.score is not None
    )
    # The seed and one evaluation per proposal: nothing evaluated twice.
    assert executor.calls == 4
    # The proposer heard back about each of its candidates, with the gain over the parent.
    assert len(proposer.outcomes) == 3 and all(o.improvement > 0 for o in proposer.outcomes)
    kinds = [e.kind for e in archive.events(summary.run_id)]
    first = kinds.index("proposal", 1)  # the seed's proposal comes first
    assert kinds[first : first + 2] == ["proposal", "evaluation"]


def test_prechecks_stop_a_proposal_before_the_sandbox(tmp_path: Path, archive: Archive) -> None:
    task = _task(tmp_path, 3, "run.parallel=1")
    outside = Program.single("initial_program.py", SEED.replace("import math", "import os"))
    proposer = ScriptedProposer(
        [Fail("the model said nothing"), outside, Program.single("initial_program.py", SEED)]
    )
    executor = ScriptedExecutor(_score)  # type: ignore[arg-type]
    summary = _engine(task, archive, proposer, executor).run()
    c1, c2, c3 = archive.candidates(summary.run_id)[1:]
    assert (c1.status, c1.failure_stage) == (Status.FAILED, "propose") and "said nothing" in (c1.reason or "")
    assert (c2.status, c2.failure_stage) == (Status.FAILED, "propose") and "outside the EVOLVE-BLOCK" in (
        c2.reason or ""
    )
    assert (c3.status, c3.failure_stage) == (Status.REJECTED, "duplicate")
    assert all(c.score is None for c in (c1, c2, c3))
    assert executor.calls == 1  # the seed only


def test_a_failed_evaluation_is_failed_with_its_reason_never_a_score(
    tmp_path: Path, archive: Archive
) -> None:
    task = _task(tmp_path, 2, "run.parallel=1")
    executor = ScriptedExecutor.sequence(
        [ok_evaluation(1.0), failed_evaluation("stage 1 crashed"), ok_evaluation(2.0)]
    )
    summary = _engine(task, archive, ScriptedProposer(respond=_raise_x), executor).run()
    bad = archive.candidates(summary.run_id)[1]
    assert bad.status == Status.FAILED and bad.score is None and bad.reason == "stage 1 crashed"
    assert bad.failure_stage == "evaluate"


def _distinct(ctx: object) -> SearchReplace:
    """A child unlike any other: X becomes the iteration number (pending candidates' code counts as seen)."""
    parent = ctx.parent.program  # type: ignore[attr-defined]
    return SearchReplace(f"X = {_x(parent)!r}", f"X = {float(ctx.iteration or 0) + 0.5!r}")  # type: ignore[attr-defined]


def test_infrastructure_failures_leave_candidates_pending_and_stop_the_run(
    tmp_path: Path, archive: Archive
) -> None:
    task = _task(tmp_path, 10, "run.parallel=1")
    down = SandboxError("the sandbox is gone")
    executor = ScriptedExecutor.sequence([ok_evaluation(1.0)] + [down] * MAX_INFRA_ERRORS)
    summary = _engine(task, archive, ScriptedProposer(respond=_distinct), executor).run()
    assert summary.stopped == "infrastructure"
    pending = archive.candidates(summary.run_id, status=Status.PENDING)
    assert len(pending) == MAX_INFRA_ERRORS and summary.progress.infrastructure_errors == MAX_INFRA_ERRORS
    assert "the sandbox is gone" in (summary.progress.last_reason or "")
    # A resume evaluates exactly the candidates the infrastructure lost, and nothing twice.
    again = ScriptedExecutor(_score)  # type: ignore[arg-type]
    resumed = _engine(task, archive, ScriptedProposer(respond=_distinct), again).run(resume=True)
    assert resumed.stopped == "iterations"
    assert archive.count(summary.run_id, Status.PENDING) == 0
    assert again.calls == 10 - 0  # 3 lost + 7 new; the seed is stored
    assert {r.label for r in again.requests[:MAX_INFRA_ERRORS]} == {f"candidate {c.id}" for c in pending}


def test_a_seed_that_fails_stops_before_any_proposal(tmp_path: Path, archive: Archive) -> None:
    task = _task(tmp_path, 5)
    proposer = ScriptedProposer(respond=_raise_x)
    with pytest.raises(TaskError, match="seed program fails"):
        _engine(task, archive, proposer, ScriptedExecutor.sequence([failed_evaluation("no")])).run()
    assert proposer.contexts == []


def test_the_gate_denies_or_holds_for_a_human_before_evaluation(tmp_path: Path, archive: Archive) -> None:
    task = _task(tmp_path, 2, "run.parallel=1")
    guard = Guard(ConstitutionGate(GuardConfig(), task.root, task=task), HackingDetector(GuardConfig()))
    writes = SEED.replace("X = 1.0", "X = 1.0\nopen('out.txt', 'w').write('x')")
    spawns = SEED.replace("X = 1.0", "X = 1.0\nimport subprocess")
    proposer = ScriptedProposer(
        [Program.single("initial_program.py", writes), Program.single("initial_program.py", spawns)]
    )
    executor = ScriptedExecutor(_score)  # type: ignore[arg-type]
    summary = _engine(task, archive, proposer, executor, guard=guard).run()
    held, denied = archive.candidates(summary.run_id)[1:]
    assert held.status == Status.AWAITING_APPROVAL and held.verdict["decision"] == "require_approval"
    assert denied.status == Status.REJECTED and denied.failure_stage == "guard"
    assert executor.calls == 1


def _by_iteration(reason: str | None, at: dict[int | None, int]) -> str | None:
    return re.sub(r"candidate (\d+)", lambda m: f"iteration {at[int(m[1])]}", reason) if reason else reason


def test_same_seed_same_run_with_scripted_parts(tmp_path: Path) -> None:
    task = _task(tmp_path, 12, "run.parallel=3")

    def trace(url: str) -> list[tuple[object, ...]]:
        a = open_archive(url)
        try:
            run = a.latest_run()
            assert run is not None
            cands = a.candidates(run.id)
            # Ids follow the order candidates were stored in, which thread timing decides; iterations do not.
            at = {c.id: c.iteration for c in cands}
            return [
                (
                    c.iteration,
                    at.get(c.parent_id),
                    c.program.digest(),
                    c.status,
                    c.score,
                    _by_iteration(c.reason, at),
                )
                for c in cands
            ]
        finally:
            a.close()

    for name in ("one", "two"):
        a = open_archive(f"sqlite:///{tmp_path}/{name}.db")
        _engine(task, a, ScriptedProposer(respond=_raise_x), ScriptedExecutor(_score)).run()  # type: ignore[arg-type]
        a.close()
    assert trace(f"sqlite:///{tmp_path}/one.db") == trace(f"sqlite:///{tmp_path}/two.db")


def test_a_worker_composes_the_same_pipeline_with_claims(tmp_path: Path, archive: Archive) -> None:
    task = _task(tmp_path, 6, "run.parallel=2")
    executor = ScriptedExecutor(_score)  # type: ignore[arg-type]
    numbers = itertools.count(2)

    def fresh(ctx: object) -> SearchReplace:  # a worker's iterations are numbered only when stored
        parent = ctx.parent.program  # type: ignore[attr-defined]
        return SearchReplace(f"X = {_x(parent)!r}", f"X = {float(next(numbers))!r}")

    worker = Worker(
        task,
        archive,
        proposer=ScriptedProposer(respond=fresh),
        selector_factory=lambda: make_selector(task.config.selector),
        executor=executor,
        worker=WorkerConfig(worker_id="w1", heartbeat_every=0.05, refresh_every=0.0),
    )
    summary = worker.work()
    cands = archive.candidates(summary.run_id)
    # The iteration budget holds: the archive numbered every claim, and nothing was evaluated twice.
    assert [c.iteration for c in cands] == list(range(7))
    assert all(c.status == Status.OK for c in cands), [(c.iteration, c.status, c.reason) for c in cands]
    assert executor.calls == 7
    assert archive.get_run(summary.run_id).status == "finished"


def test_near_misses_cost_no_evaluation(tmp_path: Path, archive: Archive) -> None:
    task = _task(tmp_path, 3, "run.parallel=1")
    reformatted = Program.single("initial_program.py", SEED.replace("X = 1.0", "X = (1.0)  # the same"))
    undefined = Program.single("initial_program.py", SEED.replace("X = 1.0", "X = math.sqrt(Y)"))
    fine = Program.single("initial_program.py", SEED.replace("X = 1.0", "X = 2.0"))
    executor = ScriptedExecutor(_score)  # type: ignore[arg-type]
    summary = _engine(task, archive, ScriptedProposer([reformatted, undefined, fine]), executor).run()
    dup, undef, ok = archive.candidates(summary.run_id)[1:]
    assert (dup.status, dup.failure_stage) == (Status.REJECTED, "duplicate")  # same syntax tree as the seed
    assert (undef.status, undef.failure_stage) == (Status.FAILED, "propose") and "Y" in (undef.reason or "")
    assert ok.status == Status.OK
    assert executor.calls == 2  # the seed and the one real change


def test_text_duplicates_only_when_the_evaluator_scores_the_source(tmp_path: Path, archive: Archive) -> None:
    task = _task(tmp_path, 1, "run.parallel=1", "run.same_code='text'")
    reformatted = Program.single("initial_program.py", SEED.replace("X = 1.0", "X = 1.0  # the same value"))
    executor = ScriptedExecutor(_score)  # type: ignore[arg-type]
    summary = _engine(task, archive, ScriptedProposer([reformatted]), executor).run()
    assert archive.candidates(summary.run_id)[1].status == Status.OK and executor.calls == 2
