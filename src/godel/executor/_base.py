"""The ``Executor`` interface: where evaluations run (this machine's sandbox slots, or a Ray cluster)."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from godel.candidate import Evaluation, Program

__all__ = ["Executor"]


@runtime_checkable
class Executor(Protocol):
    """Runs evaluations. ``evaluate`` blocks and is called from several engine threads at once."""

    name: str

    def evaluate(
        self, program: Program, *, evaluator_file: str | None = None, label: str = ""
    ) -> Evaluation: ...

    def close(self) -> None: ...
