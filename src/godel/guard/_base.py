"""The guard's interfaces: a :class:`Gate` decides on proposals before they run, a :class:`Detector` flags results
after they ran; :class:`Guard` is the pair a run uses."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from godel.candidate import Candidate, Program, Proposal

if TYPE_CHECKING:
    from godel.archive import Archive
    from godel.evaluate import Evaluates
    from godel.noise import Noise
    from godel.task import Task

__all__ = ["Decision", "Detector", "Gate", "Guard", "Verdict"]

Decision = Literal["allow", "deny", "require_approval"]


@dataclass(frozen=True)
class Verdict:
    decision: Decision
    reasons: tuple[str, ...] = ()
    rules: tuple[str, ...] = ()  # ids of the rules that fired
    seconds: float = 0.0
    details: dict[str, Any] = field(default_factory=dict)
    # What model-judged rules spent deciding (the run's budgets count it with the proposal's own).
    tokens_in: int = 0
    tokens_out: int = 0
    cost: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "decision": self.decision,
            "reasons": list(self.reasons),
            "rules": list(self.rules),
            "seconds": self.seconds,
            "details": dict(self.details),
        }
        if self.tokens_in or self.tokens_out or self.cost:
            out["tokens_in"], out["tokens_out"], out["cost"] = self.tokens_in, self.tokens_out, self.cost
        return out


@runtime_checkable
class Gate(Protocol):
    """Before a proposal runs: the constitution's decision on it."""

    def start(self, archive: Archive, run_id: int, task: Task) -> None:
        """Verify the constitution and record its hash for the run; raise GuardError to refuse the run."""
        ...

    def check(self, task: Task, parent: Program, child: Program, proposal: Proposal | None = None) -> Verdict:
        """Decide on a proposal before it runs."""
        ...

    def expire(self, archive: Archive, run_id: int) -> None:
        """Apply the approval timeout to the run's queue of candidates waiting for a human."""
        ...


@runtime_checkable
class Detector(Protocol):
    """After evaluation: objective-hacking flags (an empty list: nothing suspicious)."""

    def start(self, archive: Archive, run_id: int, task: Task) -> None:
        """Attach to the run (where flags are recorded, what history the alarms compare against)."""
        ...

    def review(
        self, task: Task, candidate: Candidate, history: Sequence[Candidate], noise: Noise
    ) -> list[str]:
        """Cheap checks on every evaluated candidate (``history`` holds its parent); ``noise`` is the evaluator's
        measured spread, the unit every score comparison is made in."""
        ...

    def confirm(
        self,
        task: Task,
        candidate: Candidate,
        history: Sequence[Candidate],
        evaluator: Evaluates,
        noise: Noise,
    ) -> list[str]:
        """Expensive checks on a candidate about to become best; may evaluate it (and its parent) again through
        ``evaluator``."""
        ...


@dataclass(frozen=True)
class Guard:
    """What a run is guarded by: the gate before evaluation and the detector after it."""

    gate: Gate
    detector: Detector

    def start(self, archive: Archive, run_id: int, task: Task) -> None:
        self.gate.start(archive, run_id, task)
        self.detector.start(archive, run_id, task)
