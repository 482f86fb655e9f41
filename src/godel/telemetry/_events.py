"""The run's event stream: the archive's hash-chained records, read page by page or followed live."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

from godel.archive import Archive, Event
from godel.redact import redact, redact_obj

__all__ = ["event_line", "event_record", "follow_events", "iter_events", "last_event"]

_PAGE = 1000


def event_record(ev: Event) -> dict[str, Any]:
    """One NDJSON record: the stored event with secrets masked.

    ``hash``/``prev_hash`` are the stored ones; a record whose payload held a secret no longer matches its hash
    (verify the chain on the archive itself, never on a redacted copy).
    """
    doc = ev.to_dict()
    doc["payload"] = redact_obj(doc["payload"])
    doc["actor"] = redact(doc["actor"])
    return doc


def event_line(ev: Event) -> str:
    """A one-line human summary: ``seq time kind actor key=value...``."""
    when = datetime.fromtimestamp(ev.created_at, UTC).strftime("%Y-%m-%d %H:%M:%S")
    parts = []
    for key, value in redact_obj(dict(ev.payload)).items():
        text = value if isinstance(value, str) else json.dumps(value, default=str)
        parts.append(f"{key}={text if len(text) <= 80 else text[:77] + '...'}")
    return f"{ev.seq:>6} {when} {ev.kind:<11} {redact(ev.actor):<9} {' '.join(parts)}"


def iter_events(archive: Archive, run_id: int, since_seq: int = 0, page: int = _PAGE) -> Iterator[Event]:
    """Every event after ``since_seq``, in order, read ``page`` at a time (constant memory on long runs)."""
    seq = since_seq
    while True:
        batch = archive.events(run_id, since_seq=seq, limit=page)
        yield from batch
        if len(batch) < page:
            return
        seq = batch[-1].seq


def last_event(archive: Archive, run_id: int, hint: int = 0) -> Event | None:
    """The newest event of the run, found with O(log n) one-row reads (``hint``: a seq known to exist)."""
    lo = max(hint, 0)  # invariant: an event with seq lo exists (or lo == 0)
    step = 1
    while archive.events(run_id, since_seq=lo + step - 1, limit=1):
        lo, step = lo + step, step * 2
    hi = lo + step  # no event with seq >= hi
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if archive.events(run_id, since_seq=mid - 1, limit=1):
            lo = mid
        else:
            hi = mid
    if lo == 0:
        return None
    found = archive.events(run_id, since_seq=lo - 1, limit=1)
    return found[0] if found else None


def follow_events(
    archive: Archive,
    run_id: int,
    since_seq: int = 0,
    *,
    interval: float = 1.0,
    until_end: bool = False,
    stop: Callable[[], bool] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[Event]:
    """Every event after ``since_seq`` and then each new one as another process appends it (polling).

    Ends after a ``run_end`` event when ``until_end``, or when ``stop()`` returns True; otherwise runs until the
    consumer stops iterating.
    """
    seq = since_seq
    while True:
        for ev in iter_events(archive, run_id, seq):
            seq = ev.seq
            yield ev
            if until_end and ev.kind == "run_end":
                return
        if stop is not None and stop():
            return
        sleep(interval)
