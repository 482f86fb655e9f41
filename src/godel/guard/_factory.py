"""Building a run's guard from ``[guard]``."""

from __future__ import annotations

from collections.abc import Callable

from godel.config import GuardConfig
from godel.guard._base import Guard
from godel.guard._detect import HackingDetector
from godel.guard._gate import ConstitutionGate
from godel.llm import Pool, SharedPool
from godel.task import Task

__all__ = ["make_guard"]


def make_guard(config: GuardConfig, task: Task, *, llm: Callable[[], Pool] | None = None) -> Guard:
    """The guard for ``task``; raises :class:`GuardError` when its constitution is missing, malformed or tampered.

    ``llm`` is the run's model pool for model-judged rules (the one its proposer uses; see
    :class:`godel.llm.SharedPool`); without it the guard builds one of ``[llm]`` the first time such a rule asks.
    """
    return Guard(
        gate=ConstitutionGate(config, task.root, task=task, llm=llm or SharedPool(task.config.llm)),
        detector=HackingDetector(config),
    )
