"""The audit trail: verifying the archive's per-run hash chain and exporting it as JSONL.

The archive writes the chain (:mod:`godel.archive._chain`); this module reads it back and says whether it is intact.
A record edited, deleted, inserted or moved breaks the chain at that record, and the report names the first one.
Cutting records off the *end* leaves a valid shorter chain: compare the head hash with one saved earlier
(``godel audit export`` prints it) to catch that.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from godel.archive import GENESIS, Event, event_hash

if TYPE_CHECKING:
    from godel.archive import Archive

__all__ = [
    "BadRecord",
    "VerifyReport",
    "event_from_dict",
    "export_jsonl",
    "read_jsonl",
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
    """Write every event (verbatim, so the export itself can be verified) as one JSON object per line."""
    events = list(_all_events(archive, run_id))
    for ev in events:
        out.write(json.dumps(ev.to_dict(), sort_keys=True, ensure_ascii=False) + "\n")
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


def read_jsonl(path: str | Path) -> list[Event]:
    out = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                out.append(event_from_dict(json.loads(line)))
    return out
