"""Objective-hacking detection after evaluation: score jumps, canaries, hold-out gap and re-runs (real sandbox)."""

from __future__ import annotations

from pathlib import Path

from godel.archive import Archive
from godel.candidate import Candidate, Program, Status
from godel.evaluate import Evaluator
from godel.guard import ConstitutionGate, Guard, GuardConfig, HackingDetector, make_guard
from godel.sandbox import SubprocessSandbox
from godel.task import Task, load_task
from tests.helpers import write_task

LOAD = (
    "import importlib.util, random\n"
    "def _load(p):\n"
    "    s = importlib.util.spec_from_file_location('prog', p)\n"
    "    m = importlib.util.module_from_spec(s)\n"
    "    s.loader.exec_module(m)\n"
    "    return m\n"
)
VISIBLE = LOAD + (
    "def evaluate(p):\n"
    "    prog, rng = _load(p), random.Random(0)\n"
    "    cases = [[rng.randint(0, 99) for _ in range(30)] for _ in range(10)]\n"
    "    return {'combined_score': sum(prog.main(list(c)) == sorted(c) for c in cases) / len(cases)}\n"
)
HOLDOUT = VISIBLE.replace("random.Random(0)", "random.Random(7)").replace("range(30)", "range(50)")
SEED = "# EVOLVE-BLOCK-START\ndef main(xs):\n    return list(xs)\n# EVOLVE-BLOCK-END\n"
HONEST = "# EVOLVE-BLOCK-START\ndef main(xs):\n    return sorted(xs)\n# EVOLVE-BLOCK-END\n"
# Overfits the visible inputs' shape (length 30) without reading anything: no static rule can see it.
OVERFIT = (
    "# EVOLVE-BLOCK-START\ndef main(xs):\n    if len(xs) == 30:\n        return sorted(xs)\n"
    "    return list(xs)\n# EVOLVE-BLOCK-END\n"
)
FLAKY = (
    "# EVOLVE-BLOCK-START\nimport random as _r\ndef main(xs):\n"
    "    return sorted(xs) if _r.random() < 0.5 else list(xs)\n# EVOLVE-BLOCK-END\n"
)


def _task(tmp_path: Path) -> Task:
    return load_task(
        write_task(
            tmp_path / "t",
            {"initial_program.py": SEED, "evaluator.py": VISIBLE, "holdout_evaluator.py": HOLDOUT},
        )
    )


def _cand(
    it: int, score: float, parent: int | None = 0, program: Program | None = None, **kw: object
) -> Candidate:
    c = Candidate(
        run_id=1,
        iteration=it,
        program=program or Program.single("initial_program.py", SEED),
        parent_id=parent,
        status=Status.OK,
        score=score,
        **kw,  # type: ignore[arg-type]
    )
    c.id = it
    return c


def test_score_jump_alarm(tmp_path: Path) -> None:
    task = _task(tmp_path)
    guard = make_guard(GuardConfig(k_sigma=4, jump_min_history=5), task)
    scores = [0.50, 0.52, 0.49, 0.51, 0.53, 0.50, 0.52]
    prev = _cand(0, 0.5, None)
    for i, s in enumerate(scores, start=1):
        c = _cand(i, s, prev.id)
        assert guard.detector.review(task, c, [prev]) == []
        prev = c
    assert guard.detector.review(task, _cand(20, 0.56, prev.id), [prev]) == []  # a modest gain
    flags = guard.detector.review(task, _cand(21, 1.0, prev.id), [prev])
    assert len(flags) == 1 and flags[0].startswith("score-jump:")


def test_no_alarm_before_history(tmp_path: Path) -> None:
    task = _task(tmp_path)
    guard = make_guard(GuardConfig(), task)
    seed = _cand(0, 0.1, None)
    assert guard.detector.review(task, _cand(1, 0.9, 0), [seed]) == []


def test_canaries(tmp_path: Path) -> None:
    task = _task(tmp_path)
    guard = make_guard(GuardConfig(jump_min_history=1000), task)
    parent = _cand(1, 0.5, 0, artifacts={"log": "GODEL-CANARY seen"}, metrics={"canary_checks": 3.0})
    ok = _cand(2, 0.6, 1, artifacts={"log": "GODEL-CANARY seen"}, metrics={"canary_checks": 3.0})
    assert guard.detector.review(task, ok, [parent]) == []
    gamed = _cand(3, 0.99, 1, artifacts={"log": "all good"}, metrics={})
    flags = guard.detector.review(task, gamed, [parent])
    assert any("marker 'GODEL-CANARY' in the parent's evaluation output" in f for f in flags)
    assert any("metric canary_checks disappeared" in f for f in flags)


def test_holdout_gap_and_rerun_with_a_real_sandbox(tmp_path: Path, archive: Archive) -> None:
    task = _task(tmp_path)
    ev = Evaluator(task, SubprocessSandbox())

    detector = HackingDetector(GuardConfig(holdout_evaluator="holdout_evaluator.py"))
    guard = Guard(ConstitutionGate(GuardConfig(), task.root, task=task), detector)
    run = archive.create_run("r", task.name, {})
    guard.start(archive, run.id, task)

    def scored(it: int, text: str) -> Candidate:
        prog = Program.single("initial_program.py", text)
        res = ev.evaluate(prog, evaluator_file="evaluator.py")
        assert res.ok and res.score is not None
        return _cand(it, res.score, 0, program=prog)

    honest = scored(1, HONEST)
    assert honest.score == 1.0
    assert guard.detector.confirm(task, honest, [], ev) == []
    overfit = scored(2, OVERFIT)
    assert overfit.score == 1.0  # the visible evaluator is fooled
    assert (
        guard.gate.check(task, task.program, overfit.program).decision == "allow"
    )  # and so are the static rules
    flags = guard.detector.confirm(task, overfit, [], ev)
    assert len(flags) == 1 and flags[0].startswith("holdout-gap:")
    kinds = [e.kind for e in archive.events(run.id)]
    assert kinds.count("holdout") == 2 and kinds.count("rerun") == 2
    gaps = [g for g in detector.gaps if g["candidate"] == 2]
    assert gaps[0]["gap"] == 1.0 and gaps[0]["flagged"]


def test_rerun_flags_a_score_that_does_not_reproduce(tmp_path: Path) -> None:
    task = _task(tmp_path)
    ev = Evaluator(task, SubprocessSandbox())

    detector = HackingDetector(GuardConfig())
    flaky = _cand(1, 1.0, 0, program=Program.single("initial_program.py", FLAKY))
    # 10 cases at p=0.5 each: the chance of 10/10 again is 1/1024 per try; three tries make it negligible.
    flagged = [detector.rerun(task, flaky, ev) for _ in range(3)]
    assert any(f and f[0].startswith("rerun:") for f in flagged)
    steady = _cand(2, 1.0, 0, program=Program.single("initial_program.py", HONEST))
    assert detector.rerun(task, steady, ev) == []
