"""godel: self-improving code in the style of the Darwin Gödel Machine, with a sandbox and a constitution.

The small public API: load a task, open an archive, build the parts and run the :class:`Engine`.
"""

from godel.archive import open_archive
from godel.archive._base import Archive, CandidateRow, Event, RunInfo
from godel.candidate import Candidate, Evaluation, Program, Proposal, Status
from godel.config import Config, load_config
from godel.engine import Engine, Progress, RunSummary
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
from godel.task import Task, load_task

__version__ = "0.1.0"

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
