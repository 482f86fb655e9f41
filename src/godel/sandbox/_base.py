"""The ``Sandbox`` interface: run untrusted Python with limits and report which limit, if any, ended it.

A :class:`Job` is a set of files placed in a fresh scratch directory plus the Python source to run there as
``__main__``. The job reports its result by writing bytes to **file descriptor 3** (the result channel), so a
candidate that floods stdout cannot corrupt the result and the evaluator's answer never has to be parsed out of
program output.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

__all__ = ["RESULT_FD", "Job", "Limits", "Sandbox", "SandboxResult", "Termination"]

RESULT_FD = 3

Termination = Literal["ok", "error", "timeout", "cpu_limit", "memory_limit", "output_limit"]


@dataclass(frozen=True)
class Limits:
    wall_seconds: float = 30.0
    cpu_seconds: float | None = None  # defaults to wall_seconds
    memory_mb: int = 1024  # total over every process the job starts
    max_processes: int = 32
    output_bytes: int = 1_000_000  # stdout + stderr
    disk_mb: int = 64  # scratch directory
    result_bytes: int = 16_000_000  # result channel (fd 3)

    @property
    def cpu(self) -> float:
        return self.cpu_seconds if self.cpu_seconds is not None else self.wall_seconds


@dataclass(frozen=True)
class Job:
    code: str  # Python source run as __main__ with the scratch directory as working directory
    files: Mapping[str, bytes] = field(default_factory=dict)  # relative path -> content, written to scratch
    argv: tuple[str, ...] = ()
    limits: Limits = field(default_factory=Limits)
    label: str = ""  # for logs and KPIs, e.g. "candidate 42 stage 1"
    priority: int = (
        0  # higher runs first when jobs queue for slots (a later cascade stage outranks a first one)
    )


@dataclass(frozen=True)
class SandboxResult:
    termination: Termination
    exit_code: int | None
    stdout: str = ""
    stderr: str = ""
    result: bytes | None = None  # what the job wrote to fd 3 (None if nothing)
    wall_seconds: float = 0.0
    cpu_seconds: float = 0.0
    peak_memory_mb: float = 0.0
    backend: str = ""
    reason: str = ""  # human-readable cause when termination != "ok"
    isolation: Mapping[str, Any] = field(default_factory=dict)  # what protected this run
    start_seconds: float | None = (
        None  # hand-over to the job's first line of code (None: the backend cannot tell)
    )

    @property
    def ok(self) -> bool:
        return self.termination == "ok"

    def to_dict(self, *, output_chars: int = 2000) -> dict[str, Any]:
        return {
            "termination": self.termination,
            "exit_code": self.exit_code,
            "reason": self.reason,
            "wall_seconds": round(self.wall_seconds, 6),
            "cpu_seconds": round(self.cpu_seconds, 6),
            "start_seconds": round(self.start_seconds, 6) if self.start_seconds is not None else None,
            "peak_memory_mb": round(self.peak_memory_mb, 3),
            "backend": self.backend,
            "stdout": self.stdout[-output_chars:],
            "stderr": self.stderr[-output_chars:],
            "result_bytes": len(self.result) if self.result is not None else 0,
            "isolation": dict(self.isolation),
        }


@runtime_checkable
class Sandbox(Protocol):
    """Runs jobs in isolation: everything a caller may use of a backend (``godel.sandbox.testing`` checks it).

    ``run`` must be safe to call from several threads at once (one job per slot; the others wait). ``close`` ends
    whatever the backend started and may be called more than once.
    """

    @property
    def name(self) -> str:
        """The backend's name as ``[sandbox] backend`` spells it; also each result's ``backend``."""
        ...

    @property
    def trusted(self) -> bool:
        """True when the backend contains nothing (unsafe-subprocess): only trusted code may run in it."""
        ...

    @property
    def isolation(self) -> Mapping[str, Any]:
        """What protects a run (each result carries the same map); ``contained`` is ``not trusted``."""
        ...

    @property
    def server_pids(self) -> Sequence[int]:
        """Long-lived processes of this sandbox outside the caller's (the zygote's fork servers), else empty.

        Their CPU time is part of the sandbox's cost, and no job may signal them.
        """
        ...

    def run(self, job: Job) -> SandboxResult: ...
    def close(self) -> None: ...
