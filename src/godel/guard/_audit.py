"""The audit trail's hash chains: checking them, and the JSONL log they are exported to.

The archive writes the chain (:mod:`godel.archive._chain`); :func:`verify_chain` reads it back and says whether it
is intact. A record edited, deleted, inserted or moved breaks the chain at that record, and the report names the
first one. The chain alone cannot show records cut off its *end*, nor a chain recomputed after an edit: the signed
checkpoints do (:mod:`godel.guard._checkpoint`), and :func:`godel.guard.verify_trail` checks both.

The exported log (``godel audit export``) is one JSON object per line: per run a ``{"run": {...}}`` header, its
events verbatim (so the export verifies on its own), then its signed checkpoints as ``{"checkpoint": {...}}``.
A checkpoint log (``--checkpoints FILE``) holds checkpoint lines only.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from godel.archive import GENESIS, Checkpoint, Event, event_hash
from godel.errors import GuardError

if TYPE_CHECKING:
    from godel.archive import Archive

__all__ = [
    "BadRecord",
    "TrailLog",
    "VerifyReport",
    "event_from_dict",
    "export_jsonl",
    "read_jsonl",
    "read_log",
    "verify_archive",
    "verify_chain",
]


@dataclass(frozen=True)
class BadRecord:
    run_id: int
    seq: int  # the seq the record claims
    position: int  # 1-based position in the run's stream as read
    id: int
    problem: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "seq": self.seq,
            "position": self.position,
            "id": self.id,
            "problem": self.problem,
        }


@dataclass
class VerifyReport:
    ok: bool = True
    events: int = 0
    runs: dict[int, dict[str, Any]] = field(default_factory=dict)  # run id -> {events, head}
    first_bad: BadRecord | None = None
    problems: list[BadRecord] = field(default_factory=list)  # the first bad record of each broken run

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "events": self.events,
            "runs": {str(k): v for k, v in self.runs.items()},
            "first_bad": self.first_bad.to_dict() if self.first_bad else None,
            "problems": [p.to_dict() for p in self.problems],
        }

    def message(self) -> str:
        if self.ok:
            return f"audit chain intact: {self.events} events in {len(self.runs)} run(s)"
        b = self.first_bad
        assert b is not None
        return f"audit chain BROKEN in run {b.run_id} at record #{b.position} (seq {b.seq}, id {b.id}): {b.problem}"


def _check_run(run_id: int, events: list[Event]) -> tuple[BadRecord | None, str]:
    prev = GENESIS
    for pos, ev in enumerate(events, start=1):

        def bad(problem: str, ev: Event = ev, pos: int = pos) -> BadRecord:
            return BadRecord(run_id, ev.seq, pos, ev.id, problem)

        if ev.seq != pos:
            if ev.seq > pos:
                return bad(f"expected seq {pos}, found {ev.seq}: record(s) deleted before it"), prev
            return bad(f"expected seq {pos}, found {ev.seq}: record inserted or moved"), prev
        if ev.prev_hash != prev:
            return bad(
                "prev_hash does not match the previous record's hash (inserted, moved or re-chained)"
            ), prev
        want = event_hash(prev, ev.run_id, ev.seq, ev.kind, ev.actor, ev.payload, ev.created_at)
        if ev.hash != want:
            return bad("hash does not match the record's content (kind, actor, payload or time edited)"), prev
        prev = ev.hash
    return None, prev


def verify_chain(events: Iterable[Event]) -> VerifyReport:
    """Check the hash chains of the given events (any number of runs, each run's events in stored order)."""
    by_run: dict[int, list[Event]] = {}
    for ev in events:
        by_run.setdefault(ev.run_id, []).append(ev)
    report = VerifyReport()
    for run_id, evs in by_run.items():
        report.events += len(evs)
        bad, head = _check_run(run_id, evs)
        report.runs[run_id] = {"events": len(evs), "head": head if bad is None else None, "ok": bad is None}
        if bad is not None:
            report.ok = False
            report.problems.append(bad)
            if report.first_bad is None:
                report.first_bad = bad
    return report


def _run_events(archive: Archive, run_id: int, page: int = 5000) -> Iterator[Event]:
    since = 0
    while True:
        batch = archive.events(run_id, since_seq=since, limit=page)
        yield from batch
        if len(batch) < page:
            return
        since = batch[-1].seq


def _all_events(archive: Archive, run_id: int | None) -> Iterator[Event]:
    ids = [run_id] if run_id is not None else [r.id for r in archive.runs()]
    for rid in ids:
        # Unpaged, so a record whose seq was edited (out of order) is still read in stored order.
        yield from archive.events(rid)


def verify_archive(archive: Archive, run_id: int | None = None) -> VerifyReport:
    return verify_chain(_all_events(archive, run_id))


def export_jsonl(archive: Archive, out: IO[str], run_id: int | None = None) -> VerifyReport:
    """Write the trail of one run (or every run) as the JSONL log: per run its header, its events verbatim and its
    signed checkpoints. Returns the chain check of what was written."""
    runs = [archive.get_run(run_id)] if run_id is not None else archive.runs()
    events: list[Event] = []
    for run in runs:
        # Unpaged, so a record whose seq was edited (out of order) is still written in stored order.
        evs = archive.events(run.id)
        header = {"id": run.id, "name": run.name, "task": run.task, "status": run.status}
        header["candidates"] = archive.count(run.id)
        out.write(json.dumps({"run": header}, sort_keys=True, ensure_ascii=False) + "\n")
        for ev in evs:
            out.write(json.dumps(ev.to_dict(), sort_keys=True, ensure_ascii=False) + "\n")
        for cp in archive.checkpoints(run.id):
            out.write(json.dumps({"checkpoint": cp.to_dict()}, sort_keys=True) + "\n")
        events.extend(evs)
    return verify_chain(events)


def event_from_dict(d: dict[str, Any]) -> Event:
    return Event(
        id=int(d["id"]),
        run_id=int(d["run_id"]),
        seq=int(d["seq"]),
        kind=str(d["kind"]),
        actor=str(d["actor"]),
        payload=d["payload"],
        created_at=d["created_at"],
        prev_hash=str(d["prev_hash"]),
        hash=str(d["hash"]),
    )


@dataclass
class TrailLog:
    """What a JSONL log file holds: run headers (id -> header), events in file order, checkpoints."""

    runs: dict[int, dict[str, Any]] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)
    checkpoints: list[Checkpoint] = field(default_factory=list)


def read_log(path: str | Path) -> TrailLog:
    """Read an exported log or a checkpoint log; GuardError naming the line when one is not a log record."""
    log = TrailLog()
    try:
        with open(path, encoding="utf-8") as fh:
            for n, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                try:
                    d = json.loads(line)
                    if "checkpoint" in d:
                        log.checkpoints.append(Checkpoint.from_dict(d["checkpoint"]))
                    elif "run" in d:
                        log.runs[int(d["run"]["id"])] = dict(d["run"])
                    else:
                        log.events.append(event_from_dict(d))
                except (ValueError, TypeError, KeyError, AttributeError) as exc:
                    raise GuardError(
                        f"line {n} of {path} is not an audit log record ({type(exc).__name__}: {exc})",
                        hint="pass a file written by `godel audit export`",
                    ) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise GuardError(f"cannot read the audit log {path}: {exc}", hint="check the path") from exc
    return log


def read_jsonl(path: str | Path) -> list[Event]:
    """The events of an exported log, in file order."""
    return read_log(path).events
