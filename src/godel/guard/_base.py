"""The ``Guard`` interface: decisions on proposals before they run, and flags on results after they ran."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from godel.candidate import Candidate, Program, Proposal

if TYPE_CHECKING:
    from godel.archive._base import Archive
    from godel.task import Task

__all__ = ["Decision", "Guard", "Verdict"]

Decision = Literal["allow", "deny", "require_approval"]


@dataclass(frozen=True)
class Verdict:
    decision: Decision
    reasons: tuple[str, ...] = ()
    rules: tuple[str, ...] = ()  # ids of the rules that fired
    seconds: float = 0.0
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "decision": self.decision,
            "reasons": list(self.reasons),
            "rules": list(self.rules),
            "seconds": self.seconds,
            "details": dict(self.details),
        }


@runtime_checkable
class Guard(Protocol):
    def start(self, archive: Archive, run_id: int, task: Task) -> None:
        """Verify the constitution and record its hash for the run; raise GuardError to refuse the run."""

    def check(self, task: Task, parent: Program, child: Program, proposal: Proposal) -> Verdict:
        """Decide on a proposal before it runs."""

    def review(self, task: Task, candidate: Candidate, history: Sequence[Candidate]) -> list[str]:
        """Objective-hacking flags for an evaluated candidate (empty list: nothing suspicious)."""
