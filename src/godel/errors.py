"""The exception hierarchy: every error godel raises on purpose is a :class:`GodelError`.

Each subclass carries a ``hint`` so the CLI can print one line that names the cause and the fix.
"""

from __future__ import annotations

__all__ = [
    "ApplyError",
    "ArchiveError",
    "ArchiveUnavailable",
    "BudgetExhausted",
    "ConfigError",
    "EvaluationError",
    "GodelError",
    "GuardError",
    "LLMError",
    "NetworkBlocked",
    "ProposalError",
    "SandboxError",
    "SelectionError",
    "TaskError",
    "UnknownCandidate",
    "UnknownRun",
    "UsageError",
]


class GodelError(Exception):
    """Root of every error godel raises deliberately.

    ``user_error`` marks errors caused by the user's input (bad config, broken task, unknown id): the CLI exits
    non-zero for those and only those.
    """

    user_error: bool = False

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message} (fix: {self.hint})"
        return self.message


class ConfigError(GodelError):
    """Configuration that does not validate; the message names the field."""

    user_error = True


class UsageError(GodelError):
    """A bad command-line argument or option value."""

    user_error = True


class TaskError(GodelError):
    """A task directory that cannot be loaded: missing program, evaluator without ``evaluate``..."""

    user_error = True


class ArchiveError(GodelError):
    """The archive cannot be opened, read or written."""

    user_error = True


class ArchiveUnavailable(ArchiveError):
    """The archive's server cannot be reached right now (a transient condition workers retry with backoff)."""


class UnknownRun(ArchiveError):
    """No run with that id or name in the archive."""


class UnknownCandidate(ArchiveError):
    """No candidate with that id in the archive."""


class SelectionError(GodelError):
    """Parent selection has nothing to choose from."""


class ProposalError(GodelError):
    """A proposer could not produce a candidate (model reply without an edit, ...)."""


class ApplyError(ProposalError):
    """An edit that does not apply to its parent (SEARCH text not found, edit outside EVOLVE-BLOCK...)."""


class EvaluationError(GodelError):
    """The evaluation pipeline itself failed (not the candidate)."""


class SandboxError(GodelError):
    """The sandbox could not run a job (infrastructure failure, not the candidate's own failure)."""


class LLMError(GodelError):
    """A model endpoint failed: unreachable, wrong model name, missing key, malformed reply."""


class GuardError(GodelError):
    """The guard cannot make decisions (missing, malformed or tampered constitution)."""

    user_error = True


class BudgetExhausted(GodelError):
    """A budget (iterations, wall time, tokens, cost) ran out; not an error for the run as a whole."""


class NetworkBlocked(GodelError, OSError):
    """godel's pytest plugin refused a connection a test tried to make; the hint says how to allow it.

    An ``OSError`` as well, so code that handles an unreachable network (a library wrapping it in its own
    connection error, Ray falling back to 127.0.0.1) handles a refusal the same way.
    """
