"""The default executor: evaluations in this process's sandbox slots."""

from __future__ import annotations

from godel.candidate import Evaluation, Program
from godel.evaluate import Evaluator
from godel.sandbox._base import Sandbox
from godel.task import Task

__all__ = ["LocalExecutor"]


class LocalExecutor:
    name = "local"

    def __init__(self, task: Task, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self.evaluator = Evaluator(task, sandbox)

    def evaluate(self, program: Program, *, evaluator_file: str | None = None, label: str = "") -> Evaluation:
        return self.evaluator.evaluate(program, evaluator_file=evaluator_file, label=label)

    def close(self) -> None:
        self.sandbox.close()
