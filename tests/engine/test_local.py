"""The loop end to end: real archive (SQLite), real processes, local mutations (deterministic, no model)."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from godel.archive import open_archive
from godel.candidate import Program, Status
from godel.engine import Engine
from godel.errors import TaskError
from godel.progress import Progress
from godel.propose import MutationProposer, Proposer
from godel.sandbox import SubprocessSandbox
from godel.select import make_selector
from godel.task import Task, load_task
from tests.helpers import EXAMPLES

# Whole runs with real evaluations in a real (unsafe-subprocess) sandbox; tests/engine/test_pipeline.py covers the
# same stages with scripted parts in the fast lane.
pytestmark = pytest.mark.slow


def _task(tmp_path: Path, iterations: int, *extra: str, example: str = "function_minimization") -> Task:
    root = tmp_path / example
    if not root.exists():
        shutil.copytree(EXAMPLES / example, root)
    return load_task(
        root,
        [f"run.iterations={iterations}", "proposer.kind='mutate'", "guard.enabled=false", *extra],
    )


def _engine(task: Task, url: str, **kw: Any) -> Engine:
    return Engine(
        task,
        open_archive(url),
        proposer=MutationProposer(task.config.proposer),
        selector_factory=lambda: make_selector(task.config.selector),
        sandbox=SubprocessSandbox(),
        **kw,
    )


def _trace(url: str, run_name: str | None = None) -> list[tuple[Any, ...]]:
    archive = open_archive(url)
    run = archive.get_run(run_name) if run_name else archive.latest_run()
    assert run is not None
    by_id = {c.id: c for c in archive.candidates(run.id)}
    out = [
        (
            c.iteration,
            by_id[c.parent_id].iteration if c.parent_id is not None else None,
            c.program.digest(),
            c.status.value,
            c.score,
            c.reason,
        )
        for c in archive.candidates(run.id)
    ]
    archive.close()
    return out


def test_run_stores_every_candidate_and_improves(tmp_path: Path) -> None:
    task = _task(tmp_path, 30)
    url = f"sqlite:///{tmp_path}/a.db"
    summary = _engine(task, url).run()
    assert summary.stopped == "iterations"
    assert summary.seed is not None and summary.seed.score is not None
    assert summary.best is not None and summary.best.score is not None
    assert summary.best.score >= summary.seed.score
    trace = _trace(url)
    assert [t[0] for t in trace] == list(range(31))
    for it, parent, _digest, status, score, reason in trace:
        assert status in ("ok", "failed", "rejected")
        assert (score is None) == (status != "ok")
        assert (reason is None) == (status == "ok")
        assert it == 0 or parent is not None


def test_same_seed_same_run(tmp_path: Path) -> None:
    task = _task(tmp_path, 12, "run.parallel=3")
    a, b = f"sqlite:///{tmp_path}/a.db", f"sqlite:///{tmp_path}/b.db"
    _engine(task, a).run()
    _engine(task, b).run()
    assert _trace(a) == _trace(b)


def test_interrupted_then_resumed_equals_uninterrupted(tmp_path: Path) -> None:
    task = _task(tmp_path, 16, "run.parallel=2")
    whole, parts = f"sqlite:///{tmp_path}/whole.db", f"sqlite:///{tmp_path}/parts.db"
    _engine(task, whole).run()

    engine = _engine(task, parts)

    def stop_after_five(p: Progress) -> None:
        if p.done >= 5:
            engine.request_stop()

    engine.on_progress = stop_after_five
    first = engine.run()
    assert first.stopped == "interrupted"
    assert len(_trace(parts)) < 17
    # Simulate a crash that lost an evaluation: put the last candidate back to pending.
    archive = open_archive(parts)
    run = archive.latest_run()
    assert run is not None
    last = archive.candidates(run.id)[-1]
    last.status, last.score, last.reason, last.metrics = Status.PENDING, None, None, {}
    archive.update_candidate(last)
    archive.close()
    second = _engine(task, parts).run(resume=True)
    assert second.stopped == "iterations"
    assert _trace(parts) == _trace(whole)


def test_seed_that_fails_stops_the_run(make_task: Callable[[dict[str, str]], Path], tmp_path: Path) -> None:
    root = make_task(
        {
            "initial_program.py": "# EVOLVE-BLOCK-START\nX = 1\n# EVOLVE-BLOCK-END\n",
            "evaluator.py": "def evaluate(p):\n    raise RuntimeError('evaluator is broken')\n",
        }
    )
    task = load_task(root, ["proposer.kind='mutate'", "guard.enabled=false"])
    with pytest.raises(TaskError, match="evaluator is broken"):
        _engine(task, f"sqlite:///{tmp_path}/s.db").run()
    # The failure itself is stored, with its reason.
    archive = open_archive(f"sqlite:///{tmp_path}/s.db")
    run = archive.latest_run()
    assert run is not None
    seed = archive.candidates(run.id)[0]
    assert seed.status == Status.FAILED and "evaluator is broken" in (seed.reason or "")


def test_try_programs_goes_through_the_pipeline(tmp_path: Path) -> None:
    task = _task(tmp_path, 0)
    url = f"sqlite:///{tmp_path}/t.db"
    good = task.program.files["initial_program.py"].replace("iterations=60", "iterations=600")
    bad = task.program.files["initial_program.py"].replace(
        "    return best_x, best_y, best_value\n", "    return 1\n"
    )
    outside = task.program.files["initial_program.py"].replace("(x**2 + y**2) / 20", "0")
    results = _engine(task, url).try_programs(
        [
            (name, Program.single("initial_program.py", text))
            for name, text in (("good", good), ("bad", bad), ("outside", outside))
        ]
    )
    by = {name: c for name, c in results}
    assert by["good"].status == Status.OK and by["good"].score is not None
    assert by["bad"].status == Status.FAILED and "evaluate" in (by["bad"].failure_stage or "")
    assert by["outside"].status == Status.FAILED and "outside the EVOLVE-BLOCK" in (
        by["outside"].reason or ""
    )


class _WritesOnce(Proposer):
    """Proposes, at iteration 1, a program that writes a file (the default constitution wants a human for that);
    mutations otherwise."""

    name = "scripted"

    def __init__(self, task: Task) -> None:
        self.mutate = MutationProposer(task.config.proposer)

    def propose(self, ctx: Any, rng: Any) -> Any:
        from godel.candidate import Proposal

        if ctx.iteration != 1:
            return self.mutate.propose(ctx, rng)
        text = ctx.parent.program.files["initial_program.py"].replace(
            "    return best_x, best_y, best_value\n",
            "    with open('trace.txt', 'w') as fh:\n        fh.write(str(best_value))\n"
            "    return best_x, best_y, best_value\n",
        )
        return Proposal(program=Program.single("initial_program.py", text), proposer=self.name)


def test_supervised_candidate_waits_then_runs_after_approval(tmp_path: Path) -> None:
    from godel.guard import approve, make_guard

    task = _task(tmp_path, 3, "guard.enabled=true")
    url = f"sqlite:///{tmp_path}/g.db"

    def engine(t: Task) -> Engine:
        return Engine(
            t,
            open_archive(url),
            proposer=_WritesOnce(t),
            selector_factory=lambda: make_selector(t.config.selector),
            sandbox=SubprocessSandbox(),
            guard=make_guard(t.config.guard, t),
        )

    first = engine(task).run()
    assert first.progress.awaiting == 1
    archive = open_archive(url)
    waiting = archive.candidates(first.run_id, status=Status.AWAITING_APPROVAL)
    assert len(waiting) == 1 and waiting[0].iteration == 1
    assert waiting[0].verdict["decision"] == "require_approval"
    assert waiting[0].id is not None
    approve(archive, waiting[0].id, "tester")
    archive.close()
    engine(_task(tmp_path, 4, "guard.enabled=true")).run(resume=True)
    archive = open_archive(url)
    done = archive.get_candidate(waiting[0].id)
    assert done.status == Status.OK and done.score is not None
    kinds = [e.kind for e in archive.events(first.run_id)]
    assert "approval" in kinds or any("approv" in k for k in kinds)
    archive.close()


def test_infrastructure_failure_is_not_the_candidates_fault(tmp_path: Path) -> None:
    task = _task(tmp_path, 8, "run.parallel=1")
    url = f"sqlite:///{tmp_path}/i.db"
    box = SubprocessSandbox()
    engine = Engine(
        task,
        open_archive(url),
        proposer=MutationProposer(task.config.proposer),
        selector_factory=lambda: make_selector(task.config.selector),
        sandbox=box,
    )

    def break_after_seed(kind: str, payload: dict[str, Any]) -> None:
        if kind == "evaluation" and payload["iteration"] == 0:
            box.python = str(tmp_path / "no-such-python")  # the interpreter vanishes under the sandbox

    engine.on_event = break_after_seed
    summary = engine.run()
    assert summary.stopped == "infrastructure"
    archive = open_archive(url)
    cands = archive.candidates(summary.run_id)
    pending = [c for c in cands if c.status == Status.PENDING]
    assert len(pending) == 3 and all(c.score is None and c.reason is None for c in pending)
    assert not [c for c in cands if c.status == Status.FAILED]
    errors = [e for e in archive.events(summary.run_id) if e.kind == "error"]
    assert len(errors) == 3 and all(e.payload["infrastructure"] for e in errors)
    assert archive.get_run(summary.run_id).status == "stopped"
    archive.close()
    resumed = _engine(task, url).run(resume=True)
    assert resumed.stopped == "iterations"
    assert [t[0] for t in _trace(url)] == list(range(9))
    assert all(t[3] != "pending" for t in _trace(url))


def test_secrets_in_artifacts_are_redacted_before_storage(
    make_task: Callable[[dict[str, str]], Path], tmp_path: Path
) -> None:
    secret = "sk-proj-" + "A1b2C3d4E5f6G7h8I9j0" * 2
    root = make_task(
        {
            "initial_program.py": "# EVOLVE-BLOCK-START\nX = 1.0\n# EVOLVE-BLOCK-END\n",
            "evaluator.py": (
                "def evaluate(p):\n"
                f"    print('connecting with {secret}')\n"
                f"    return {{'combined_score': 1.0, 'log': 'key={secret}'}}\n"
            ),
        }
    )
    task = load_task(root, ["proposer.kind='mutate'", "guard.enabled=false", "run.iterations=0"])
    url = f"sqlite:///{tmp_path}/r.db"
    _engine(task, url).run()
    archive = open_archive(url)
    run = archive.latest_run()
    assert run is not None
    seed = archive.candidates(run.id)[0]
    archive.close()
    stored = repr(seed.artifacts) + repr(seed.evaluation)
    assert secret not in stored and "key=" in seed.artifacts["log"]
