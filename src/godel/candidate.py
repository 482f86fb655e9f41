"""Candidates and programs: the plain data every other module passes around."""

from __future__ import annotations

import difflib
import enum
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "Candidate",
    "Evaluation",
    "Program",
    "Proposal",
    "StageResult",
    "Status",
    "unified_diff",
]


class Status(enum.StrEnum):
    """Lifecycle of a candidate.

    Only ``OK`` candidates carry a score. ``FAILED`` and ``REJECTED`` always carry a reason; they are never scored
    (a crash is not a zero).
    """

    PENDING = "pending"  # proposed and stored, evaluation not finished
    AWAITING_APPROVAL = "awaiting_approval"  # guard or hacking detector wants a human
    OK = "ok"
    FAILED = "failed"
    REJECTED = "rejected"

    @property
    def terminal(self) -> bool:
        return self in (Status.OK, Status.FAILED, Status.REJECTED)


@dataclass(frozen=True)
class Program:
    """A program as a mapping of relative POSIX path to source text.

    Single-file tasks hold one entry; multi-file tasks hold the whole folder (text files only).
    """

    files: Mapping[str, str]

    def __post_init__(self) -> None:
        # Sorted and copied so equality, hashing and serialisation do not depend on insertion order.
        object.__setattr__(self, "files", dict(sorted(self.files.items())))

    @classmethod
    def single(cls, path: str, text: str) -> Program:
        return cls({path: text})

    @property
    def main_path(self) -> str:
        return next(iter(self.files))

    def digest(self) -> str:
        h = hashlib.sha256()
        for path, text in self.files.items():
            h.update(path.encode())
            h.update(b"\0")
            h.update(text.encode())
            h.update(b"\0")
        return h.hexdigest()

    def replace(self, path: str, text: str) -> Program:
        files = dict(self.files)
        files[path] = text
        return Program(files)

    def to_json(self) -> str:
        return json.dumps(self.files, sort_keys=True)

    @classmethod
    def from_json(cls, data: str) -> Program:
        files = json.loads(data)
        if not isinstance(files, dict):
            raise ValueError("program JSON must be an object of path -> text")
        return cls({str(k): str(v) for k, v in files.items()})

    def size(self) -> int:
        return sum(len(t) for t in self.files.values())


def unified_diff(old: Program | None, new: Program, context: int = 3) -> str:
    """A unified diff from ``old`` to ``new`` over every file; empty when they are equal."""
    old_files: Mapping[str, str] = old.files if old is not None else {}
    out: list[str] = []
    for path in sorted(set(old_files) | set(new.files)):
        a = old_files.get(path, "")
        b = new.files.get(path, "")
        if a == b:
            continue
        out.extend(
            difflib.unified_diff(
                a.splitlines(keepends=True),
                b.splitlines(keepends=True),
                fromfile=f"a/{path}" if path in old_files else "/dev/null",
                tofile=f"b/{path}" if path in new.files else "/dev/null",
                n=context,
            )
        )
    return "".join(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in out)


@dataclass(frozen=True)
class Proposal:
    """What a proposer returns: a new program (or the reason it could not make one) and its provenance."""

    program: Program | None
    proposer: str
    error: str | None = (
        None  # set when the edit could not be produced or applied; fed back in the next prompt
    )
    edit: str = ""  # the raw edit (SEARCH/REPLACE blocks, rewrite, or mutation description)
    model: str | None = None
    prompt: str | None = None
    tokens_in: int = 0
    tokens_out: int = 0
    cost: float = 0.0
    seconds: float = 0.0
    meta: Mapping[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.program is not None and self.error is None


@dataclass(frozen=True)
class StageResult:
    """One cascade stage: its metrics (mean over repeats) and what ended it."""

    stage: int
    name: str
    status: str  # "ok" | "failed" | "below_threshold"
    metrics: Mapping[str, float] = field(default_factory=dict)
    artifacts: Mapping[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    reason: str | None = None
    sandbox: Mapping[str, Any] = field(default_factory=dict)  # the sandbox's result document(s), for audit


@dataclass(frozen=True)
class Evaluation:
    """The outcome of evaluating one candidate through the whole cascade."""

    ok: bool
    score: float | None
    metrics: Mapping[str, float] = field(default_factory=dict)
    artifacts: Mapping[str, str] = field(default_factory=dict)
    stages: tuple[StageResult, ...] = ()
    reason: str | None = None
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "score": self.score,
            "metrics": dict(self.metrics),
            "artifacts": dict(self.artifacts),
            "reason": self.reason,
            "seconds": self.seconds,
            "stages": [
                {
                    "stage": s.stage,
                    "name": s.name,
                    "status": s.status,
                    "metrics": dict(s.metrics),
                    "reason": s.reason,
                    "seconds": s.seconds,
                    "sandbox": dict(s.sandbox),
                }
                for s in self.stages
            ],
        }


@dataclass
class Candidate:
    """One variant in the archive, with its lineage and everything needed to reproduce and audit it."""

    run_id: int
    iteration: int
    program: Program
    parent_id: int | None = None
    generation: int = 0
    status: Status = Status.PENDING
    score: float | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    artifacts: dict[str, str] = field(default_factory=dict)
    reason: str | None = None  # why it failed or was rejected
    failure_stage: str | None = None  # propose | guard | evaluate | sandbox | duplicate
    proposer: str = "seed"
    model: str | None = None
    prompt: str | None = None
    edit: str | None = None
    diff: str | None = None  # unified diff against the parent
    tokens_in: int = 0
    tokens_out: int = 0
    cost: float = 0.0
    verdict: dict[str, Any] = field(default_factory=dict)  # guard verdict and reasons
    flags: list[str] = field(default_factory=list)  # hacking-detector flags
    evaluation: dict[str, Any] = field(default_factory=dict)  # stage details, sandbox documents
    timings: dict[str, float] = field(default_factory=dict)
    created_at: float = 0.0
    updated_at: float = 0.0
    id: int | None = None

    @property
    def code_digest(self) -> str:
        return self.program.digest()

    def summary(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "run_id": self.run_id,
            "iteration": self.iteration,
            "parent_id": self.parent_id,
            "generation": self.generation,
            "status": self.status.value,
            "score": self.score,
            "reason": self.reason,
            "failure_stage": self.failure_stage,
            "proposer": self.proposer,
            "model": self.model,
            "flags": list(self.flags),
        }

    def to_dict(self) -> dict[str, Any]:
        d = self.summary()
        d.update(
            {
                "files": dict(self.program.files),
                "metrics": dict(self.metrics),
                "artifacts": dict(self.artifacts),
                "edit": self.edit,
                "diff": self.diff,
                "prompt": self.prompt,
                "tokens_in": self.tokens_in,
                "tokens_out": self.tokens_out,
                "cost": self.cost,
                "verdict": dict(self.verdict),
                "evaluation": dict(self.evaluation),
                "timings": dict(self.timings),
                "created_at": self.created_at,
                "updated_at": self.updated_at,
            }
        )
        return d
