"""Local mutations alone must make progress on a function-minimisation task, not just produce noise.

Greedy hill-climbing (keep a child when it scores strictly higher) with :class:`MutationProposer` as the only
proposer, 40 proposals per run, three seeds; each run must end strictly above the seed program's score. Scoring runs
in-process here (the programs are ours and tiny); the end-to-end figure through the engine and sandbox is measured
separately on the shipped example.
"""

from __future__ import annotations

import importlib.util
import math
import random
from collections.abc import Callable
from pathlib import Path

import pytest

from godel.candidate import Candidate, Program
from godel.config import ProposerConfig
from godel.propose import MutationProposer, ProposalContext
from godel.task import Task
from tests.helpers import EXAMPLES
from tests.propose.support import file_task

PROPOSALS = 40

ANNEALER = '''"""Simulated annealing in two dimensions with a fixed call budget."""

import math
import random


# EVOLVE-BLOCK-START
def minimise(objective):
    """Start far away, walk with Gaussian steps, accept uphill moves while hot."""
    x, y = 4.0, 4.0
    fx = objective(x, y)
    best = (x, y, fx)
    temperature = 10.0
    step = 3.0
    for _ in range(40):
        nx = x + random.gauss(0.0, step)
        ny = y + random.gauss(0.0, step)
        fn = objective(nx, ny)
        if fn < fx or random.random() < math.exp(-(fn - fx) / temperature):
            x, y, fx = nx, ny, fn
            if fx < best[2]:
                best = (x, y, fx)
        temperature *= 0.99
    return best
# EVOLVE-BLOCK-END
'''

MAX_CALLS = 1000
TRIALS = 8


def objective(x: float, y: float) -> float:
    """Bumpy bowl with its global minimum 0 at (1, -0.5)."""
    return (x - 1) ** 2 + (y + 0.5) ** 2 + 0.5 * math.sin(3 * (x - 1)) ** 2


def score_annealer(program: Program) -> float | None:
    """Mean closeness to the minimum over seeded trials; None (a failure, not a zero) if the program breaks."""
    namespace: dict[str, object] = {}
    state = random.getstate()
    try:
        exec(compile(program.files["initial_program.py"], "candidate", "exec"), namespace)
        minimise = namespace["minimise"]
        assert callable(minimise)
        total = 0.0
        for trial in range(TRIALS):
            random.seed(trial)
            calls = 0

            def counted(x: float, y: float) -> float:
                nonlocal calls
                calls += 1
                if calls > MAX_CALLS:
                    raise RuntimeError("call budget exceeded")
                return objective(x, y)

            x, y, _claimed = minimise(counted)
            total += objective(float(x), float(y))
        value = total / TRIALS
        return 1.0 / (1.0 + value) if math.isfinite(value) else None
    except Exception:  # any exception is the candidate's failure, recorded as None
        return None
    finally:
        random.setstate(state)


def hill_climb(task: Task, score: Callable[[Program], float | None], seed: int) -> tuple[float, float, int]:
    """Greedy search; returns (seed score, best score, proposals that failed to score)."""
    proposer = MutationProposer(ProposerConfig())
    seed_score = score(task.program)
    assert seed_score is not None
    best = Candidate(run_id=1, iteration=0, program=task.program, id=0)
    best_score, failures = seed_score, 0
    for iteration in range(1, PROPOSALS + 1):
        ctx = ProposalContext(task=task, parent=best, iteration=iteration)
        proposal = proposer.propose(ctx, random.Random(f"{seed}:{iteration}:propose"))
        assert proposal.program is not None, proposal.error
        assert task.check_edit(task.program, proposal.program) is None
        s = score(proposal.program)
        if s is None:
            failures += 1
        elif s > best_score:
            best, best_score = (
                Candidate(run_id=1, iteration=iteration, program=proposal.program, id=iteration),
                s,
            )
    return seed_score, best_score, failures


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_mutations_improve_annealer(seed: int) -> None:
    seed_score, best, failures = hill_climb(file_task(ANNEALER), score_annealer, seed)
    assert best > seed_score, f"seed {seed}: no improvement over {seed_score:.4f} in {PROPOSALS} proposals"
    assert failures < PROPOSALS // 2


def _example_scorer(workdir: Path) -> Callable[[Program], float | None]:
    path = EXAMPLES / "function_minimization" / "evaluator.py"
    if not path.is_file():
        pytest.fail(f"example evaluator missing: {path}")
    spec = importlib.util.spec_from_file_location("fm_evaluator", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    evaluate = module.evaluate
    counter = iter(range(1_000_000))

    def score(program: Program) -> float | None:
        target = workdir / f"candidate_{next(counter)}.py"
        target.write_text(program.files[program.main_path])
        state = random.getstate()
        try:
            return float(evaluate(str(target))["combined_score"])
        except Exception:  # a broken candidate is a failure, not a zero
            return None
        finally:
            random.setstate(state)

    return score


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_mutations_improve_function_minimization_example(seed: int, tmp_path: Path) -> None:
    path = EXAMPLES / "function_minimization" / "initial_program.py"
    task = file_task(path.read_text())
    seed_score, best, _failures = hill_climb(task, _example_scorer(tmp_path), seed)
    assert best > seed_score, f"seed {seed}: no improvement over {seed_score:.4f} in {PROPOSALS} proposals"
