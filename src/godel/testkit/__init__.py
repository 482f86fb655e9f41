"""Staged test evolution (``godel evolve --mode tests``): Stage A adds tests, Stage B refactors safely, and godel
enforces each stage's gates (docs/test-evolution.md).

:func:`load_project` makes a project folder a task, :func:`testkit_parts` the run's parts (the measurement in the
sandbox as the executor, the stage's static gates as prechecks, a test proposer). Every gate says what it measured
as a :class:`GateResult`, stored with the candidate.
"""

from godel.testkit._evaluate import EVALUATOR, FITNESS, Measurement, TestEvaluator, production_files
from godel.testkit._gates import (
    GateResult,
    api_gate,
    changed_files,
    changed_lines,
    gates_artifact,
    is_test_path,
    lines_gate,
    public_api,
    scope_gate,
)
from godel.testkit._mutants import Mutant, mutants_of, sample_mutants
from godel.testkit._propose import DirProposer, GhostwriterProposer, ModelTestProposer
from godel.testkit._run import load_project, stage_precheck, testkit_parts

__all__ = [
    "EVALUATOR",
    "FITNESS",
    "DirProposer",
    "GateResult",
    "GhostwriterProposer",
    "Measurement",
    "ModelTestProposer",
    "Mutant",
    "TestEvaluator",
    "api_gate",
    "changed_files",
    "changed_lines",
    "gates_artifact",
    "is_test_path",
    "lines_gate",
    "load_project",
    "mutants_of",
    "production_files",
    "public_api",
    "sample_mutants",
    "scope_gate",
    "stage_precheck",
    "testkit_parts",
]
