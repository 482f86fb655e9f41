"""Building a run's guard from ``[guard]``."""

from __future__ import annotations

from godel.config import GuardConfig
from godel.guard._base import Guard
from godel.guard._detect import HackingDetector
from godel.guard._gate import ConstitutionGate
from godel.task import Task

__all__ = ["make_guard"]


def make_guard(config: GuardConfig, task: Task) -> Guard:
    """The guard for ``task``; raises :class:`GuardError` when its constitution is missing, malformed or tampered."""
    return Guard(gate=ConstitutionGate(config, task.root, task=task), detector=HackingDetector(config))
