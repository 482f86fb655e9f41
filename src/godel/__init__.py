"""godel: self-improving code in the style of the Darwin Gödel Machine, with a sandbox and a constitution.

The small public API: load a task, open an archive, build the parts and run the :class:`Engine`. The names below
resolve on first use, so ``import godel.candidate`` (or the ``godel --help`` start-up) does not pay for the
archive, the model SDKs and the sandbox; each lives in the subpackage its ``__all__`` names.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from godel.archive import Archive, CandidateRow, Event, RunInfo, open_archive
    from godel.candidate import Candidate, Evaluation, Program, Proposal, Status
    from godel.config import Config, load_config
    from godel.engine import Engine
    from godel.errors import (
        ApplyError,
        ArchiveError,
        ConfigError,
        EvaluationError,
        GodelError,
        GuardError,
        LLMError,
        ProposalError,
        SandboxError,
        SelectionError,
        TaskError,
        UnknownCandidate,
        UnknownRun,
    )
    from godel.evaluate import Evaluator
    from godel.parts import Parts, build_parts
    from godel.progress import Progress, RunSummary
    from godel.task import Task, load_task

__version__ = "0.1.0"

_HOME = {
    "godel.archive": ("Archive", "CandidateRow", "Event", "RunInfo", "open_archive"),
    "godel.candidate": ("Candidate", "Evaluation", "Program", "Proposal", "Status"),
    "godel.config": ("Config", "load_config"),
    "godel.engine": ("Engine",),
    "godel.errors": (
        "ApplyError",
        "ArchiveError",
        "ConfigError",
        "EvaluationError",
        "GodelError",
        "GuardError",
        "LLMError",
        "ProposalError",
        "SandboxError",
        "SelectionError",
        "TaskError",
        "UnknownCandidate",
        "UnknownRun",
    ),
    "godel.evaluate": ("Evaluator",),
    "godel.parts": ("Parts", "build_parts"),
    "godel.progress": ("Progress", "RunSummary"),
    "godel.task": ("Task", "load_task"),
}
_WHERE = {name: module for module, names in _HOME.items() for name in names}

__all__ = [
    "ApplyError",
    "Archive",
    "ArchiveError",
    "Candidate",
    "CandidateRow",
    "Config",
    "ConfigError",
    "Engine",
    "Evaluation",
    "EvaluationError",
    "Evaluator",
    "Event",
    "GodelError",
    "GuardError",
    "LLMError",
    "Parts",
    "Program",
    "Progress",
    "Proposal",
    "ProposalError",
    "RunInfo",
    "RunSummary",
    "SandboxError",
    "SelectionError",
    "Status",
    "Task",
    "TaskError",
    "UnknownCandidate",
    "UnknownRun",
    "build_parts",
    "load_config",
    "load_task",
    "open_archive",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'godel' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
