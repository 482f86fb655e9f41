"""Signing the event chains: checkpoints at run end and every N events, and the append-only checkpoint log.

A checkpoint is the statement "run R had SIZE events, the last with hash HEAD, at TIME", signed with the audit key
(:mod:`godel.guard._keys`). The head hash commits to every event before it, so a signed head makes the whole prefix
tamper-evident to anyone holding only the public key: editing, deleting, reordering or re-chaining any event it
covers, or cutting the trail short of it, no longer matches a signature the writer cannot forge.

Events written after the newest checkpoint are not signed yet; :class:`Checkpointer` keeps that window at most N
events, and the run's last checkpoint (:func:`checkpoint`, called at run end) closes it.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from godel.archive import GENESIS, Checkpoint, Event, checkpoint_message, verify_chain
from godel.errors import ArchiveError, GuardError
from godel.guard._keys import AuditKey, PublicKey

if TYPE_CHECKING:
    from godel.archive import Archive

__all__ = [
    "DEFAULT_EVERY",
    "Checkpointer",
    "append_checkpoint_log",
    "checkpoint",
    "checkpoint_valid",
    "export_checkpoints",
    "sign_checkpoint",
]

DEFAULT_EVERY = 100  # events between checkpoints: the most a writer of the database could cut or forge unseen


def sign_checkpoint(key: AuditKey, run_id: int, size: int, head: str, created_at: float) -> Checkpoint:
    message = checkpoint_message(run_id, size, head, created_at, key.key_id)
    return Checkpoint(run_id, size, head, created_at, key.key_id, key.sign(message))


def checkpoint_valid(cp: Checkpoint, key: PublicKey) -> bool:
    """Whether ``cp`` carries ``key``'s signature over exactly its own fields."""
    if cp.key_id != key.key_id:
        return False
    return key.verify(checkpoint_message(cp.run_id, cp.size, cp.head, cp.created_at, cp.key_id), cp.signature)


def _last_own(archive: Archive, run_id: int, key: AuditKey) -> Checkpoint | None:
    """The newest checkpoint of the run this key signed (a forged one is never built upon)."""
    own = [cp for cp in archive.checkpoints(run_id) if checkpoint_valid(cp, key.public)]
    return own[-1] if own else None


def _sign_tail(
    archive: Archive, run_id: int, key: AuditKey, last: Checkpoint | None, log: Path | None
) -> Checkpoint | None:
    since = last.size if last is not None else 0
    tail = archive.events(run_id, since_seq=since)
    if not tail:
        return last
    try:
        verify_chain(tail, prev_hash=last.head if last is not None else GENESIS, start_seq=since + 1)
    except ArchiveError as exc:
        raise GuardError(
            f"not signing the audit trail of run {run_id}: {exc.message}",
            hint="`godel audit verify` names what changed; restore the archive from a backup",
        ) from exc
    head = tail[-1]
    stored = archive.add_checkpoint(sign_checkpoint(key, run_id, head.seq, head.hash, time.time()))
    if log is not None:
        append_checkpoint_log(log, [stored])
    return stored


def checkpoint(archive: Archive, run_id: int, key: AuditKey, *, log: Path | None = None) -> Checkpoint | None:
    """Sign run ``run_id``'s trail as stored now, after checking that the events since the previous checkpoint
    chain onto it; append the checkpoint to ``log`` when given.

    Returns the new checkpoint, the previous one when no event was added since, None when the run has no events.
    Call it after the run's last event (the engine: at run end). Raises GuardError, signing nothing, when the trail
    no longer chains.
    """
    return _sign_tail(archive, run_id, key, _last_own(archive, run_id, key), log)


class Checkpointer:
    """Signs a checkpoint every ``every`` events: hand it each event the run appends (``observe``).

    Thread-safe; one per process is enough for any number of runs. Events appended by others (the guard's
    detector, an approval) are covered by the next checkpoint, whoever triggers it.
    """

    def __init__(
        self, archive: Archive, key: AuditKey, *, every: int = DEFAULT_EVERY, log: Path | None = None
    ):
        if every < 1:
            raise GuardError(f"checkpoints every {every} events is not possible", hint="use 1 or more")
        self.archive = archive
        self.key = key
        self.every = every
        self.log = log
        self._lock = threading.Lock()
        self._signed: dict[int, Checkpoint | None] = {}

    def observe(self, event: Event) -> Checkpoint | None:
        """The checkpoint this event made due, if it did (one comparison otherwise)."""
        last = self._signed.get(event.run_id)
        if event.run_id in self._signed and event.seq - (last.size if last else 0) < self.every:
            return None
        with self._lock:
            if event.run_id not in self._signed:
                self._signed[event.run_id] = _last_own(self.archive, event.run_id, self.key)
            last = self._signed[event.run_id]
            if event.seq - (last.size if last else 0) < self.every:
                return None
            made = _sign_tail(self.archive, event.run_id, self.key, last, self.log)
            self._signed[event.run_id] = made
            return made

    def close(self, run_id: int) -> Checkpoint | None:
        """The run's final checkpoint (:func:`checkpoint`), for when its last event is written."""
        with self._lock:
            made = checkpoint(self.archive, run_id, self.key, log=self.log)
            self._signed[run_id] = made
            return made


def _line(cp: Checkpoint) -> str:
    return json.dumps({"checkpoint": cp.to_dict()}, sort_keys=True) + "\n"


def append_checkpoint_log(path: Path, checkpoints: Iterable[Checkpoint]) -> int:
    """Append checkpoints to the log file ``path`` (one JSON line each, written through to disk); returns how many.

    The file is only ever appended to: keep it where the archive's writers cannot rewrite it (another machine, an
    append-only mount) and verify against it with ``godel audit verify --checkpoints FILE``.
    """
    lines = [_line(cp) for cp in checkpoints]
    if not lines:
        return 0
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as fh:
            fh.write("".join(lines))
            fh.flush()
            os.fsync(fh.fileno())
    except OSError as exc:
        raise GuardError(
            f"cannot append to the checkpoint log {path}: {exc}", hint="choose a writable path for the log"
        ) from exc
    return len(lines)


def export_checkpoints(
    archive: Archive, path: Path, run_ids: Sequence[int], already: Iterable[Checkpoint]
) -> int:
    """Append to ``path`` the checkpoints of ``run_ids`` not yet among ``already`` (what the log holds)."""
    have = {(cp.run_id, cp.size, cp.signature) for cp in already}
    new = [
        cp
        for rid in run_ids
        for cp in archive.checkpoints(rid)
        if (cp.run_id, cp.size, cp.signature) not in have
    ]
    return append_checkpoint_log(path, new)
