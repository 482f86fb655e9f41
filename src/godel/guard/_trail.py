"""Verifying the whole audit trail: hash chains, signed checkpoints, and the candidate rows against their events.

What each check catches, for someone who can write the database but does not hold the audit key:

* ``chain``: a record edited, deleted, inserted or moved without recomputing the chain;
* ``forged``: a checkpoint whose signature does not verify with a trusted public key;
* ``rewritten``: a chain recomputed after an edit (or a flag event deleted and the rest re-chained): a signed head
  no longer matches the stored event it names;
* ``truncated``: events cut off the end below what a checkpoint signed;
* ``unsigned``: events after the last checkpoint of a run that has ended (appended or forged after its end); on a
  run still running they are only reported (``unsigned_tail``: at most the checkpoint interval);
* ``no-events``: a run with candidates or checkpoints but no events (its trail deleted);
* ``row``: a candidate whose stored status, score, hacking flag or code digest disagrees with its events (or whose
  code does not match its own digest, or that no event mentions), and a candidate its events name that is gone;
* ``witness``: a checkpoint in an append-only log kept outside the archive that the archive no longer agrees with
  (its events cut or rewritten together with their checkpoints, or a checkpoint deleted).

Cutting a trail and deleting the checkpoints that covered the cut part, then marking the run as still running, can
only be seen against a checkpoint log kept elsewhere (``--checkpoints``); that is what the log is for.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from godel.archive import Checkpoint, Event, StoredRow
from godel.errors import GodelError
from godel.guard._audit import TrailLog, _check_run
from godel.guard._checkpoint import checkpoint_valid
from godel.guard._keys import PublicKey

if TYPE_CHECKING:
    from godel.archive import Archive

__all__ = ["Problem", "RunAudit", "TrailReport", "check_archive", "verify_log", "verify_trail"]

_PAGE = 500  # candidates decoded at a time when their code digests are recomputed


@dataclass(frozen=True)
class Problem:
    run_id: int
    kind: str  # chain | forged | rewritten | truncated | unsigned | no-events | row | witness
    message: str
    seq: int | None = None
    candidate: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "kind": self.kind,
            "message": self.message,
            "seq": self.seq,
            "candidate": self.candidate,
        }


@dataclass
class RunAudit:
    run_id: int
    name: str | None = None
    status: str | None = None
    events: int = 0
    head: str | None = None  # the last event's hash when the chain is intact
    candidates: int | None = None
    checkpoints: int = 0
    signed: int = 0  # events covered by the newest valid checkpoint
    unsigned_tail: int = (
        0  # events after it on a run still running (not a problem: the next checkpoint covers them)
    )
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def add(self, kind: str, message: str, *, seq: int | None = None, candidate: int | None = None) -> None:
        self.problems.append(Problem(self.run_id, kind, message, seq, candidate))

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "name": self.name,
            "status": self.status,
            "ok": self.ok,
            "events": self.events,
            "head": self.head,
            "candidates": self.candidates,
            "checkpoints": self.checkpoints,
            "signed": self.signed,
            "unsigned_tail": self.unsigned_tail,
            "problems": [p.to_dict() for p in self.problems],
        }


@dataclass
class TrailReport:
    runs: list[RunAudit] = field(default_factory=list)
    trusted: list[str] = field(default_factory=list)  # ids of the public keys signatures were checked with
    storage: list[str] = field(
        default_factory=list
    )  # problems of the storage itself (godel doctor --archive)
    extra: list[Problem] = field(default_factory=list)  # problems of no run the archive has (a deleted run)

    @property
    def problems(self) -> list[Problem]:
        return [p for r in self.runs for p in r.problems] + self.extra

    @property
    def ok(self) -> bool:
        return not self.problems and not self.storage

    @property
    def events(self) -> int:
        return sum(r.events for r in self.runs)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "events": self.events,
            "trusted_keys": list(self.trusted),
            "runs": {str(r.run_id): r.to_dict() for r in self.runs},
            "problems": [p.to_dict() for p in self.problems],
            "storage": list(self.storage),
        }

    def message(self) -> str:
        keys = ", ".join(k[:16] for k in self.trusted) or "none"
        if self.ok:
            lines = [
                f"audit trail intact: {self.events} events in {len(self.runs)} run(s), checkpoints signed by key {keys}"
            ]
            lines += [
                f"  run {r.run_id} ({r.name}) is still running: its last {r.unsigned_tail} event(s) are not signed yet"
                for r in self.runs
                if r.unsigned_tail
            ]
            return "\n".join(lines)
        problems = self.problems
        lines = [f"audit trail BROKEN: {len(problems) + len(self.storage)} problem(s) (trusted key {keys})"]
        lines += [f"  storage: {s}" for s in self.storage]
        names = {r.run_id: r.name for r in self.runs}
        for p in problems:
            where = f"run {p.run_id}" + (f" ({names[p.run_id]})" if names.get(p.run_id) else "")
            lines.append(f"  {where}: {p.kind}: {p.message}")
        return "\n".join(lines)


def _when(t: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t))


def _check_chain_and_checkpoints(
    audit: RunAudit,
    events: Sequence[Event],
    checkpoints: Sequence[Checkpoint],
    keys: Mapping[str, PublicKey],
    witness: Sequence[Checkpoint],
) -> None:
    audit.events = len(events)
    audit.checkpoints = len(checkpoints)
    bad, head = _check_run(audit.run_id, list(events))
    if bad is not None:
        audit.add(
            "chain",
            f"record #{bad.position} (seq {bad.seq}, id {bad.id}): {bad.problem}",
            seq=bad.seq,
        )
    else:
        audit.head = head if events else None
    hash_at = {ev.seq: ev.hash for ev in events}
    signed = 0
    stored = {(cp.size, cp.signature) for cp in checkpoints}

    def check(cp: Checkpoint, where: str) -> bool:
        key = keys.get(cp.key_id)
        label = f"{where} at event {cp.size} (signed {_when(cp.created_at)})"
        if key is None:
            audit.add(
                "forged",
                f"{label} names key {cp.key_id[:16]}, which is not trusted: forged, or signed elsewhere (pass that "
                "machine's public key with --public-key)",
                seq=cp.size,
            )
            return False
        if not checkpoint_valid(cp, key):
            audit.add(
                "forged", f"{label}: the signature does not verify (the checkpoint was edited or forged)"
            )
            return False
        if cp.size > len(events) or cp.size not in hash_at:
            audit.add(
                "truncated",
                f"the trail was cut: {label} covers {cp.size} events, {len(events)} are left",
                seq=cp.size,
            )
            return False
        if hash_at[cp.size] != cp.head:
            audit.add(
                "rewritten",
                f"events up to {cp.size} were changed after they were signed and the chain recomputed: {label} "
                f"signed head {cp.head[:16]}..., the stored event {cp.size} has hash {hash_at[cp.size][:16]}...",
                seq=cp.size,
            )
            return False
        return True

    failed = 0
    for cp in checkpoints:
        if check(cp, "the checkpoint"):
            signed = max(signed, cp.size)
        else:
            failed += 1
    for cp in witness:
        if not check(cp, "the checkpoint in the log file"):
            failed += 1
        else:
            signed = max(signed, cp.size)
            if (cp.size, cp.signature) not in stored:
                audit.add(
                    "witness",
                    f"the checkpoint at event {cp.size} (signed {_when(cp.created_at)}) in the log file is missing "
                    "from the archive (deleted)",
                    seq=cp.size,
                )
    audit.signed = signed
    tail = len(events) - signed
    if not events:
        if audit.candidates or checkpoints or witness:
            what = f"{audit.candidates} candidate(s)" if audit.candidates else "signed checkpoints"
            audit.add("no-events", f"the run has {what} but no events: its trail was deleted")
        return
    if tail <= 0:
        return
    if audit.status == "running":
        audit.unsigned_tail = tail
    elif failed:
        pass  # the checkpoints that no longer fit already say what happened to the events they covered
    elif signed == 0:
        audit.add(
            "unsigned",
            f"none of its {len(events)} events is covered by a signed checkpoint although the run has ended "
            f"({audit.status or 'status unknown'}): its checkpoints were removed, or it was written without them "
            "(an older godel: `godel audit checkpoint` signs it as it is now)",
        )
    else:
        audit.add(
            "unsigned",
            f"{tail} event(s) after the last signed checkpoint (event {signed}) of a run that has ended "
            f"({audit.status or 'status unknown'}): appended or forged after its end",
            seq=signed + 1,
        )


@dataclass
class _Expected:
    """What a candidate's events say its row must hold."""

    status: str | None = None
    score: float | None = None
    flags: bool | None = None  # bool(flags) and not cleared, once an evaluation event said so
    digest: str | None = None
    seq: int = 0
    kind: str = ""


def _expectations(events: Iterable[Event]) -> dict[int, _Expected]:
    out: dict[int, _Expected] = {}
    for ev in events:
        cid = ev.payload.get("candidate")
        if not isinstance(cid, int) or isinstance(cid, bool):
            continue
        exp = out.setdefault(cid, _Expected())
        p, kind = ev.payload, ev.kind
        if isinstance(p.get("digest"), str):
            exp.digest = p["digest"]
        if kind == "proposal":
            exp.status, exp.score = "pending", None
        elif kind == "verdict" and p.get("decision") == "require_approval":
            exp.status, exp.score = "awaiting_approval", None
        elif kind == "evaluation":
            exp.status, exp.score = str(p.get("status")), p.get("score")
            exp.flags = bool(p.get("flags"))
        elif kind == "rejection":
            exp.status, exp.score = "rejected", None
        elif kind == "failure":
            exp.status, exp.score = "failed", None
        elif kind == "approval" and p.get("decision") == "approved":
            exp.status, exp.score = "pending", None
        elif kind == "approval" and p.get("decision") == "cleared":
            exp.flags = False
        else:
            continue
        exp.seq, exp.kind = ev.seq, kind
    return out


def _same_score(a: Any, b: float | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if not isinstance(a, int | float) or isinstance(a, bool):
        return False
    return float(a) == b or (math.isnan(float(a)) and math.isnan(b))


def _check_rows(
    audit: RunAudit, events: Sequence[Event], rows: Sequence[StoredRow], code_digests: Mapping[int, str]
) -> None:
    expected = _expectations(events)
    for cid in sorted(set(expected) - {r.id for r in rows}):
        gone = expected[cid]
        audit.add(
            "row",
            f"candidate {cid}, named by its events (last seq {gone.seq or '?'}), is not in the archive: its row was "
            "deleted",
            seq=gone.seq or None,
            candidate=cid,
        )
    for row in rows:
        label = f"candidate {row.id} (iteration {row.iteration})"
        exp = expected.get(row.id)
        if code_digests.get(row.id, row.digest) != row.digest:
            audit.add(
                "row",
                f"{label}: its code does not match the digest it was stored under (the code was edited)",
                candidate=row.id,
            )
        if exp is None:
            if row.status == "pending" and audit.status == "running":
                continue  # stored a moment ago; its first event is on its way
            audit.add(
                "row",
                f"{label} ({row.status}, score {row.score}) appears in no event: inserted or changed outside godel",
                candidate=row.id,
            )
            continue
        if exp.digest is not None and exp.digest != row.digest:
            audit.add(
                "row",
                f"{label}: its code digest {row.digest[:12]}... differs from the {exp.digest[:12]}... its events "
                "recorded (the code was replaced)",
                candidate=row.id,
            )
        if exp.status is None:
            continue
        if exp.status != row.status or not _same_score(exp.score, row.score):
            audit.add(
                "row",
                f"{label}: its row says {row.status} with score {row.score}, its {exp.kind} event (seq {exp.seq}) "
                f"says {exp.status} with score {exp.score}: the row was edited outside godel",
                seq=exp.seq,
                candidate=row.id,
            )
        elif row.status == "ok" and exp.flags is not None and exp.flags != row.flagged:
            said = "flagged" if exp.flags else "not flagged (or cleared by a human)"
            audit.add(
                "row",
                f"{label}: its row is {'flagged' if row.flagged else 'not flagged'}, its events say {said}: the "
                "hacking flag was edited outside godel",
                candidate=row.id,
            )


def _trusted(keys: Sequence[PublicKey]) -> dict[str, PublicKey]:
    return {k.key_id: k for k in keys}


def _code_digests(archive: Archive, run_id: int) -> dict[int, str]:
    out: dict[int, str] = {}
    offset = 0
    while True:
        page = archive.candidates(run_id, limit=_PAGE, offset=offset)
        for c in page:
            if c.id is not None:
                out[c.id] = c.program.digest()
        if len(page) < _PAGE:
            return out
        offset += _PAGE


def verify_trail(
    archive: Archive,
    keys: Sequence[PublicKey],
    run_id: int | None = None,
    *,
    witness: Sequence[Checkpoint] = (),
) -> TrailReport:
    """Check every run's trail (or one run's): chains, checkpoints signed by one of ``keys``, candidate rows against
    their events, and the checkpoints of an outside log (``witness``) against the archive."""
    report = TrailReport(trusted=[k.key_id for k in keys])
    trusted = _trusted(keys)
    runs = [archive.get_run(run_id)] if run_id is not None else archive.runs()
    for run in runs:
        audit = RunAudit(run.id, run.name, run.status)
        rows = archive.stored_rows(run.id)
        audit.candidates = len(rows)
        events = archive.events(
            run.id
        )  # unpaged: a record whose seq was edited is still read in stored order
        _check_chain_and_checkpoints(
            audit, events, archive.checkpoints(run.id), trusted, [c for c in witness if c.run_id == run.id]
        )
        _check_rows(audit, events, rows, _code_digests(archive, run.id))
        report.runs.append(audit)
    known = {r.id for r in runs}
    if run_id is None:
        for rid in sorted({c.run_id for c in witness} - known):
            report.extra.append(
                Problem(
                    rid,
                    "witness",
                    f"run {rid} has signed checkpoints in the log file but is not in the archive",
                )
            )
    return report


def verify_log(
    log: TrailLog, keys: Sequence[PublicKey], *, witness: Sequence[Checkpoint] = ()
) -> TrailReport:
    """Check an exported log on its own (another machine needs only the public key): chains, signed checkpoints,
    what the run headers say (status, candidates), and an outside checkpoint log against it."""
    report = TrailReport(trusted=[k.key_id for k in keys])
    trusted = _trusted(keys)
    by_run: dict[int, list[Event]] = {}
    for ev in log.events:
        by_run.setdefault(ev.run_id, []).append(ev)
    rids = sorted(
        set(log.runs) | set(by_run) | {c.run_id for c in log.checkpoints} | {c.run_id for c in witness}
    )
    for rid in rids:
        head = log.runs.get(rid, {})
        candidates = head.get("candidates")
        audit = RunAudit(
            rid,
            str(head["name"]) if "name" in head else None,
            str(head["status"]) if "status" in head else None,
            candidates=int(candidates) if isinstance(candidates, int) else None,
        )
        _check_chain_and_checkpoints(
            audit,
            by_run.get(rid, []),
            [c for c in log.checkpoints if c.run_id == rid],
            trusted,
            [c for c in witness if c.run_id == rid],
        )
        report.runs.append(audit)
    return report


def check_archive(
    archive: Archive, keys: Sequence[PublicKey], *, witness: Sequence[Checkpoint] = ()
) -> TrailReport:
    """The full check (``godel doctor --archive``): the storage itself (SQLite's integrity_check), then the audit
    trail of every run."""
    storage = archive.check_storage(full=True)
    try:
        report = verify_trail(archive, keys, witness=witness)
    except GodelError as exc:
        if not storage:
            raise
        # A damaged file may not even read back; what the storage check found is the finding, and this too.
        report = TrailReport(trusted=[k.key_id for k in keys])
        report.extra.append(Problem(0, "unreadable", f"the trail could not be read: {exc}"))
    report.storage = storage
    return report
