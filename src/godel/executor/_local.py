"""The default executor: evaluations in this process's sandbox slots."""

from __future__ import annotations

from godel.candidate import Evaluation, Program
from godel.errors import SandboxError
from godel.evaluate import Evaluator
from godel.propose import Proposer
from godel.sandbox import Sandbox
from godel.task import Task

__all__ = ["LocalExecutor"]


class LocalExecutor:
    """Evaluates with an :class:`~godel.evaluate.Evaluator` over ``sandbox``, which it owns and closes.

    It runs no proposals of its own (:meth:`proposer` is None): the run's proposer already runs in this process.
    """

    name = "local"

    def __init__(self, task: Task, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self.evaluator = Evaluator(task, sandbox)
        self._closed = False

    def evaluate(self, program: Program, *, evaluator_file: str | None = None, label: str = "") -> Evaluation:
        if self._closed:
            # Some sandboxes would still run jobs once closed; an evaluation after close is a caller's bug.
            raise SandboxError(
                "the local executor is closed", hint="build a new executor; close() ends this one for good"
            )
        return self.evaluator.evaluate(program, evaluator_file=evaluator_file, label=label)

    def proposer(self) -> Proposer | None:
        return None

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.sandbox.close()
