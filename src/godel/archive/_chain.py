"""The per-run event hash chain: how a hash is computed and how a chain is checked.

``hash = sha256(prev_hash + canonical_json([run_id, seq, kind, actor, payload, created_at]))`` with the first
event's ``prev_hash`` being :data:`GENESIS`. Canonical JSON is sorted keys, no whitespace, UTF-8; floats are written
with Python's shortest round-trip repr, so a value read back from the database hashes to the same text.

A checkpoint signs :func:`checkpoint_message`: the run, how many events it had, the last one's hash (which commits to
every event before it) and the time, with the signing key's id.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

from godel.archive._base import Event
from godel.errors import ArchiveError

__all__ = [
    "CHECKPOINT_DOMAIN",
    "GENESIS",
    "canonical_json",
    "checkpoint_message",
    "event_hash",
    "verify_chain",
]

GENESIS = "0" * 64
# Prefixed to every signed checkpoint so a signature made for one purpose never verifies for another.
CHECKPOINT_DOMAIN = "godel-audit-checkpoint/1"


def canonical_json(value: Any) -> str:
    """The one text form of a JSON value that is hashed and stored; raises ``TypeError`` for non-JSON values."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def event_hash(
    prev_hash: str,
    run_id: int,
    seq: int,
    kind: str,
    actor: str,
    payload: Mapping[str, Any],
    created_at: float,
) -> str:
    body = canonical_json([run_id, seq, kind, actor, payload, created_at])
    return hashlib.sha256((prev_hash + body).encode()).hexdigest()


def checkpoint_message(run_id: int, size: int, head: str, created_at: float, key_id: str) -> bytes:
    """The exact bytes a checkpoint's signature covers."""
    return canonical_json([CHECKPOINT_DOMAIN, run_id, size, head, created_at, key_id]).encode()


def verify_chain(events: Iterable[Event], *, prev_hash: str = GENESIS, start_seq: int = 1) -> int:
    """Check that ``events`` (one run, in order) form an unbroken chain; returns how many were checked.

    Pass ``prev_hash``/``start_seq`` to check a tail fetched with ``since_seq``. Raises :class:`ArchiveError`
    naming the first event that does not fit (a gap, a reordering, an edited payload or a forged hash).
    """
    expected_seq = start_seq
    n = 0
    for ev in events:
        if ev.seq != expected_seq:
            raise ArchiveError(
                f"event chain of run {ev.run_id} broken: expected seq {expected_seq}, found {ev.seq} (id {ev.id})",
                hint="the events table was edited outside godel; restore the archive from a backup",
            )
        if ev.prev_hash != prev_hash:
            raise ArchiveError(
                f"event chain of run {ev.run_id} broken at seq {ev.seq}: prev_hash does not match the "
                "previous event's hash",
                hint="the events table was edited outside godel; restore the archive from a backup",
            )
        want = event_hash(prev_hash, ev.run_id, ev.seq, ev.kind, ev.actor, ev.payload, ev.created_at)
        if ev.hash != want:
            raise ArchiveError(
                f"event chain of run {ev.run_id} broken at seq {ev.seq}: its hash does not match its content "
                "(payload, kind, actor or time changed after it was written)",
                hint="the events table was edited outside godel; restore the archive from a backup",
            )
        prev_hash = ev.hash
        expected_seq += 1
        n += 1
    return n
