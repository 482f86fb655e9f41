"""The ``Archive`` interface: the single source of truth of a run.

Backends are chosen by URL (``sqlite:///run.db``, ``postgresql://...``) through :func:`godel.archive.open_archive`.
Every backend passes the conformance suite in :mod:`godel.archive.testing`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol, runtime_checkable

from godel.candidate import Candidate, Status
from godel.errors import ArchiveError

# The newest migration this godel knows; must equal the head of migrations/versions. Here, beside the types, so the
# read path that skips SQLAlchemy (:mod:`godel.archive._quick`) can check an archive's revision too.
HEAD_REVISION = "0004"

__all__ = [
    "HEAD_REVISION",
    "Archive",
    "CandidateRow",
    "Checkpoint",
    "Event",
    "Lease",
    "LeaseHeld",
    "LeaseLost",
    "RunInfo",
    "RunLeased",
    "RunStats",
    "StoredRow",
]


@dataclass
class RunInfo:
    id: int
    name: str
    task: str  # task name (directory name unless godel.toml says otherwise)
    config: dict[str, Any]
    status: str = "running"  # running | stopped | finished | failed
    meta: dict[str, Any] = field(default_factory=dict)
    created_at: float = 0.0
    updated_at: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "task": self.task,
            "status": self.status,
            "config": self.config,
            "meta": self.meta,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


class CandidateRow(NamedTuple):
    """The few columns selection and progress need, without the code (cheap to load by the million: a named
    tuple builds about twice as fast as a frozen dataclass)."""

    id: int
    iteration: int
    parent_id: int | None
    generation: int
    status: Status
    score: float | None
    flagged: bool = False


@dataclass(frozen=True)
class RunStats:
    """Totals of one run, read in one query (status pages, metrics scrapes)."""

    counts: Mapping[str, int]  # status value -> candidates (every status present, zero included)
    flagged: int
    tokens: int
    cost: float

    @property
    def total(self) -> int:
        return sum(self.counts.values())


@dataclass(frozen=True)
class Event:
    """One record of the run's event stream; records are hash-chained per run (``prev_hash`` -> ``hash``)."""

    id: int
    run_id: int
    seq: int  # 1, 2, 3... within the run
    kind: str
    actor: str
    payload: Mapping[str, Any]
    created_at: float
    prev_hash: str
    hash: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "run_id": self.run_id,
            "seq": self.seq,
            "kind": self.kind,
            "actor": self.actor,
            "payload": dict(self.payload),
            "created_at": self.created_at,
            "prev_hash": self.prev_hash,
            "hash": self.hash,
        }


class StoredRow(NamedTuple):
    """A candidate's outcome columns exactly as stored, with the digest its code was stored under: what the audit
    compares with the candidate's events."""

    id: int
    iteration: int
    status: str  # as stored, even a value no Status has (an edit outside godel)
    score: float | None
    flagged: bool
    digest: str


@dataclass(frozen=True)
class Checkpoint:
    """A signed statement: run ``run_id`` had ``size`` events, the last with hash ``head``, at ``created_at``.

    ``signature`` (hex) is the Ed25519 signature of :func:`godel.archive.checkpoint_message` by the key whose id is
    ``key_id``; the archive stores checkpoints but never holds the key (``godel.guard`` signs and verifies them).
    """

    run_id: int
    size: int
    head: str
    created_at: float
    key_id: str
    signature: str
    id: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "size": self.size,
            "head": self.head,
            "created_at": self.created_at,
            "key_id": self.key_id,
            "signature": self.signature,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Checkpoint:
        return cls(
            run_id=int(d["run_id"]),
            size=int(d["size"]),
            head=str(d["head"]),
            created_at=float(d["created_at"]),
            key_id=str(d["key_id"]),
            signature=str(d["signature"]),
        )


@dataclass(frozen=True)
class Lease:
    """One local owner of a run: taken with ``acquire_lease``, kept alive with ``renew_lease`` more often than
    every ``ttl`` seconds, given back with ``release_lease``; after ``ttl`` seconds without renewal anyone may
    take it over (its owner died)."""

    run_id: int
    owner: str
    acquired_at: float
    renewed_at: float
    ttl: float
    taken_over_from: str | None = None  # the owner whose stale lease this one replaced

    @property
    def expires_at(self) -> float:
        return self.renewed_at + self.ttl

    def stale(self, now: float) -> bool:
        return now > self.expires_at

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "owner": self.owner,
            "acquired_at": self.acquired_at,
            "renewed_at": self.renewed_at,
            "ttl": self.ttl,
            "taken_over_from": self.taken_over_from,
        }


class RunLeased(ArchiveError):
    """Another live owner holds the run (a second ``--resume`` of a run that is still running)."""


class LeaseLost(ArchiveError):
    """The lease was taken over (it went stale) or released: the process must stop driving the run."""

    user_error = False


@dataclass(frozen=True)
class LeaseHeld:
    """What ``acquire_lease`` answers when another owner's lease on the run is still live."""

    holder: Lease
    asked_at: float

    def message(self) -> str:
        h = self.holder
        return (
            f"run {h.run_id} is being run by {h.owner} (since {_ago(self.asked_at - h.acquired_at)}, last heartbeat "
            f"{_ago(self.asked_at - h.renewed_at)}); it can be taken over once it has been silent for {h.ttl:g} s"
        )

    def error(self) -> RunLeased:
        return RunLeased(
            self.message(),
            hint="wait for that process to finish, or stop it; a second process on the same run would evaluate "
            "its candidates twice",
        )


def _ago(seconds: float) -> str:
    return f"{max(0.0, seconds):.0f} s ago"


@runtime_checkable
class Archive(Protocol):
    """Storage of runs, candidates and events. Implementations must be safe to call from several threads."""

    url: str

    # runs
    def create_run(
        self, name: str, task: str, config: Mapping[str, Any], meta: Mapping[str, Any] | None = None
    ) -> RunInfo: ...
    def get_run(self, run: int | str) -> RunInfo: ...  # by id or name; raises UnknownRun
    def runs(self) -> list[RunInfo]: ...
    def latest_run(self, task: str | None = None) -> RunInfo | None: ...
    def update_run(
        self, run_id: int, *, status: str | None = None, meta: Mapping[str, Any] | None = None
    ) -> None: ...

    # candidates
    def add_candidate(self, cand: Candidate) -> int: ...  # sets cand.id; (run_id, iteration) is unique
    def add_candidates(self, cands: Sequence[Candidate]) -> list[int]: ...  # one transaction
    def update_candidate(self, cand: Candidate) -> None: ...  # status, results, verdict, flags, timings
    def get_candidate(self, cid: int) -> Candidate: ...  # raises UnknownCandidate
    def candidates(
        self,
        run_id: int,
        *,
        status: Status | Sequence[Status] | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[Candidate]: ...  # ordered by iteration
    def rows(
        self, run_id: int, *, updated_since: float | None = None
    ) -> list[CandidateRow]: ...  # ordered by iteration; only rows changed after ``updated_since`` when given
    def count(self, run_id: int, status: Status | None = None) -> int: ...
    def stats(self, run_id: int) -> RunStats: ...  # one pass: counts by status, flagged, tokens, cost
    def best(self, run_id: int) -> Candidate | None: ...  # highest-score OK candidate that is not flagged
    def children(self, cid: int) -> list[Candidate]: ...
    def lineage(self, cid: int) -> list[Candidate]: ...  # seed first, cid last
    def find_by_digest(self, run_id: int, digest: str) -> int | None: ...  # a candidate with identical code

    # multi-worker claims: several processes share one run (``godel worker``)
    def claim_next(self, cand: Candidate, worker: str, limit: int) -> int | None:
        """Store ``cand`` as the run's next iteration (``max + 1``), claimed by ``worker``; sets ``cand.iteration``
        and ``cand.id``. Returns None, storing nothing, when that iteration would exceed ``limit`` (the run's
        iteration budget, which therefore holds across workers)."""
        ...

    def heartbeat(self, worker: str, cids: Sequence[int]) -> None:
        """Mark ``worker``'s claims on these candidates as alive."""
        ...

    def reclaim(self, run_id: int, worker: str, stale_after: float) -> Candidate | None:
        """Take over one pending candidate whose claim has had no heartbeat for ``stale_after`` seconds (its worker
        died), or that nobody claims; at most one worker gets each. None when there is none."""
        ...

    # events (hash-chained per run)
    def add_event(
        self, run_id: int, kind: str, payload: Mapping[str, Any], actor: str = "engine"
    ) -> Event: ...
    def events(self, run_id: int, since_seq: int = 0, limit: int | None = None) -> list[Event]: ...

    # signed checkpoints of the event chains (made and checked by godel.guard's audit)
    def add_checkpoint(self, checkpoint: Checkpoint) -> Checkpoint:
        """Store a signed checkpoint and return it with its id. The run's event ``size`` must exist with hash
        ``head`` (ArchiveError otherwise); a checkpoint of the same size already stored is returned instead."""
        ...

    def checkpoints(self, run_id: int) -> list[Checkpoint]: ...  # ordered by size
    def stored_rows(self, run_id: int) -> list[StoredRow]: ...  # ordered by iteration

    # one local owner per run (workers sharing a run through claims take no lease)
    def acquire_lease(self, run_id: int, owner: str, ttl: float) -> Lease | LeaseHeld:
        """Take the run's lease for ``owner`` when nobody holds it, ``owner`` already does (renewing it), or the
        holder has been silent for longer than its ttl (taken over: ``Lease.taken_over_from``); else LeaseHeld,
        naming the live holder. At most one caller gets it, across processes."""
        ...

    def renew_lease(self, lease: Lease) -> Lease:
        """The heartbeat: the lease with ``renewed_at`` now; raises LeaseLost when ``lease.owner`` no longer holds
        it (taken over after going stale, or released)."""
        ...

    def release_lease(self, lease: Lease) -> None: ...  # gives the run back; nothing when no longer held
    def lease(self, run_id: int) -> Lease | None: ...  # the run's current lease (live or stale), if any

    # storage
    def check_storage(self, *, full: bool = True) -> list[str]:
        """What is wrong with the storage itself (damaged pages, broken indexes), empty when it is sound; ``full``
        checks everything (slow on a large archive), else the quick structural check done before a first write."""
        ...

    def close(self) -> None: ...
