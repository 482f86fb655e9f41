"""Tasks built in memory for the proposer tests: proposers need a task's program, mode and edit rules only."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from godel.candidate import Candidate, Program
from godel.config import Config
from godel.propose import ProposalContext
from godel.task import Task


def file_task(text: str, path: str = "initial_program.py") -> Task:
    return Task(
        root=Path("/nonexistent-task"),
        name="t",
        config=Config(),
        program=Program.single(path, text),
        mode="file",
        program_path=path,
        evaluator_path="evaluator.py",
        stages=("evaluate",),
    )


def folder_task(files: Mapping[str, str], fixed: tuple[str, ...] = ()) -> Task:
    return Task(
        root=Path("/nonexistent-task"),
        name="t",
        config=Config(),
        program=Program(dict(files)),
        mode="folder",
        program_path="src",
        evaluator_path="evaluator.py",
        stages=("evaluate",),
        fixed=frozenset(fixed),
    )


def context(task: Task, program: Program | None = None, iteration: int = 1) -> ProposalContext:
    parent = Candidate(run_id=1, iteration=0, program=program or task.program, id=1)
    return ProposalContext(task=task, parent=parent, iteration=iteration)
