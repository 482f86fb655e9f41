"""A test-evolution run as a configuration of the pipeline: the user's project folder is the program, the
measurement in the sandbox is the executor, the stage's static gates are prechecks, and a test proposer writes
children. Nothing is written into the project's folder: the result is a patch (``godel best --out``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from godel.candidate import Program
from godel.config import load_config
from godel.engine import DEFAULT_STAGE_PRECHECKS, Precheck
from godel.errors import ConfigError, TaskError
from godel.llm import make_llm
from godel.parts import Parts, build_parts
from godel.propose import Proposer
from godel.sandbox import FabricSandbox, Sandbox, make_sandbox
from godel.task import Task
from godel.testkit._evaluate import EVALUATOR, TestEvaluator, production_files
from godel.testkit._gates import api_gate, lines_gate, scope_gate
from godel.testkit._propose import DirProposer, GhostwriterProposer, ModelTestProposer

__all__ = ["load_project", "stage_precheck", "testkit_parts"]

_SKIP = {"__pycache__", ".git", ".godel", ".venv", "venv", "build", "dist", "node_modules", ".tox", ".nox"}


def load_project(
    project_dir: str | Path, overrides: Sequence[str] = (), extra: Mapping[str, Any] | None = None
) -> Task:
    """The project as a task: its Python files (package and tests) are the program; ``godel.toml`` there, if
    any, configures the run (``[tests]``)."""
    root = Path(project_dir).resolve()
    if not root.is_dir():
        raise TaskError(
            f"project folder {project_dir} does not exist", hint="pass the folder holding your package"
        )
    config = load_config(root, overrides, extra)
    cfg = config.tests
    if not (root / cfg.tests_dir).is_dir():
        raise ConfigError(
            f"tests.tests_dir: {root / cfg.tests_dir} is not a folder",
            hint="set tests.tests_dir in godel.toml ([tests]) to the project's tests folder",
        )
    files: dict[str, str] = {}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root)
        if not p.is_file() or any(part in _SKIP or part.startswith(".") for part in rel.parts):
            continue
        if p.suffix in (".py", ".cfg", ".toml", ".ini", ".txt", ".json") and p.stat().st_size < 2_000_000:
            try:
                files[rel.as_posix()] = p.read_text()
            except UnicodeDecodeError:
                continue
    if not production_files(files, cfg):
        raise TaskError(
            f"no production Python files in {root}", hint="set tests.package to the package's folder"
        )
    return Task(
        root=root,
        name=config.task.name or root.name,
        config=config,
        program=Program(files),
        mode="folder",
        program_path=".",
        evaluator_path=EVALUATOR,
        stages=(f"stage {cfg.stage}",),
    )


def import_roots(task: Task) -> tuple[str, ...]:
    """Where the project's packages import from: ``src`` for a src layout, and the project root."""
    return ("src", ".") if any(p.startswith("src/") for p in task.program.files) else (".",)


def stage_precheck(task: Task) -> Precheck:
    """The stage's static gates as one precheck: which files may change, how many, how many lines, the API."""
    cfg = task.config.tests

    def check(task: Task, parent: Program, child: Program) -> str | None:
        gates = scope_gate(parent.files, child.files, cfg.tests_dir, cfg.stage, cfg.max_files)
        if cfg.stage == "B":
            gates.append(lines_gate(parent.files, child.files, cfg.max_changed_lines))
            gates.append(api_gate(parent.files, child.files, production_files(parent.files, cfg)))
        failed = [g for g in gates if not g.passed]
        return "; ".join(f"gate {g.name} (stage {cfg.stage}): {g.measured}" for g in failed) or None

    return check


def testkit_parts(task: Task, storage: str | None = None, *, sandbox: Sandbox | None = None) -> Parts:
    """The parts of a Stage A or B run of ``task`` (from :func:`load_project`). Measures the seed first: Stage B
    refuses to start below ``tests.coverage_baseline``."""
    cfg = task.config.tests
    slots = max(1, task.config.run.parallel)
    box = sandbox or FabricSandbox(make_sandbox(task.config.sandbox, slots=slots), slots)
    roots = import_roots(task)
    evaluator = TestEvaluator(task.program, box, cfg, roots)
    try:
        base = evaluator.baseline
        if not base.suite_passed:
            raise TaskError(
                f"the project's own suite fails before any change: {base.suite_output[-300:].strip()}",
                hint="fix the suite (or set tests.tests_dir to the folder of passing tests) first",
            )
        if cfg.stage == "B" and base.coverage < cfg.coverage_baseline:
            raise ConfigError(
                f"tests.coverage_baseline: Stage B needs {cfg.coverage_baseline:.0%} line coverage, the project has "
                f"{base.coverage:.1%} ({base.covered}/{base.statements})",
                hint='run Stage A first (tests.stage = "A") to raise it, or lower tests.coverage_baseline',
            )
        proposer = _proposer(task, box, evaluator, roots)
    except BaseException:
        evaluator.close()
        raise
    parts = build_parts(task, storage, sandbox=box, proposals=False)
    parts.executor = evaluator
    parts.proposer = proposer
    parts.prechecks = (*DEFAULT_STAGE_PRECHECKS, stage_precheck(task))
    parts.notes.append(
        f"stage {cfg.stage}: seed coverage {base.coverage:.1%} ({base.covered}/{base.statements} lines), mutation "
        f"score {base.mutation_score:.1%} ({base.mutants_killed}/{base.mutants_total}); proposer {proposer.name}"
    )
    return parts


def _proposer(task: Task, box: Sandbox, evaluator: TestEvaluator, roots: tuple[str, ...]) -> Proposer:
    cfg = task.config.tests

    def missing() -> Mapping[str, tuple[int, ...]]:
        return evaluator.baseline.missing

    if cfg.proposer == "dir":
        if cfg.candidates is None:
            raise ConfigError("tests.candidates is unset", hint="set it to a folder of candidate folders")
        folder = Path(cfg.candidates).expanduser()
        folder = folder if folder.is_absolute() else task.root / folder
        if not folder.is_dir():
            raise ConfigError(
                f"tests.candidates: {folder} is not a folder", hint="give a folder of candidate folders"
            )
        return DirProposer(folder)
    if cfg.proposer == "model":
        return ModelTestProposer(make_llm(task.config.llm), cfg, roots, missing)
    return GhostwriterProposer(box, cfg, roots, missing)
