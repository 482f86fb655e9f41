"""Events, appended to each run's hash chain (see :mod:`godel.archive._chain`), and the signed checkpoints of the
chains."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
import sqlalchemy.exc

from godel.archive._base import Checkpoint, Event
from godel.archive._chain import GENESIS, canonical_json, event_hash
from godel.archive._connection import SQLConnection
from godel.archive._schema import checkpoints as K
from godel.archive._schema import events as E
from godel.errors import ArchiveError, UnknownRun

__all__ = ["EventStore"]


class EventStore(SQLConnection):
    """The event chains and their checkpoints of an :class:`~godel.archive.SQLArchive`."""

    def add_event(self, run_id: int, kind: str, payload: Mapping[str, Any], actor: str = "engine") -> Event:
        try:
            # Normalised through JSON first so the payload hashed is exactly what a reader gets back.
            data = json.loads(canonical_json(dict(payload)))
            text = canonical_json(data)
        except (TypeError, ValueError) as exc:
            raise ArchiveError(
                f"payload of event {kind!r} is not JSON-serialisable: {exc}",
                hint="events hold only str/int/float/bool/None, lists and dicts with string keys",
            ) from exc
        m = self._mark
        with self._write("appending an event") as conn:
            # Plain SQL through the driver: an event is appended three times per candidate, and building and
            # compiling the Core statements was most of its cost (~0.8 ms of CPU an event, now ~0.2).
            # Serialises appends to one run: a row lock on PostgreSQL; on SQLite BEGIN IMMEDIATE already did.
            # FOR NO KEY UPDATE still excludes other appenders but not candidate inserts, whose foreign-key checks
            # only take KEY SHARE on the run row.
            lock = "" if self.is_sqlite else " FOR NO KEY UPDATE"
            if conn.exec_driver_sql(f"SELECT id FROM runs WHERE id = {m}{lock}", (run_id,)).first() is None:
                raise UnknownRun(
                    f"no run with id {run_id} in the archive", hint="`godel status --json` lists the runs"
                )
            last = conn.exec_driver_sql(
                f"SELECT seq, hash FROM events WHERE run_id = {m} ORDER BY seq DESC LIMIT 1", (run_id,)
            ).first()
            seq, prev = (1, GENESIS) if last is None else (int(last[0]) + 1, str(last[1]))
            created_at = time.time()
            digest = event_hash(prev, run_id, seq, kind, actor, data, created_at)
            insert = (
                "INSERT INTO events (run_id, seq, kind, actor, payload, created_at, prev_hash, hash) "
                f"VALUES ({', '.join([m] * 8)})"
            )
            values = (run_id, seq, kind, actor, text, created_at, prev, digest)
            if self.is_sqlite:
                eid = conn.exec_driver_sql(insert, values).lastrowid
            else:
                eid = conn.exec_driver_sql(insert + " RETURNING id", values).scalar_one()
        return Event(eid, run_id, seq, kind, actor, data, created_at, prev, digest)

    def events(self, run_id: int, since_seq: int = 0, limit: int | None = None) -> list[Event]:
        stmt = sa.select(E).where(E.c.run_id == run_id, E.c.seq > since_seq).order_by(E.c.seq)
        if limit is not None:
            stmt = stmt.limit(limit)
        with self._read("reading events") as conn:
            rows = conn.execute(stmt).all()
            if not rows:
                self._require_run(conn, run_id)
        return [
            Event(
                r.id,
                r.run_id,
                r.seq,
                r.kind,
                r.actor,
                json.loads(r.payload),
                r.created_at,
                r.prev_hash,
                r.hash,
            )
            for r in rows
        ]

    def add_checkpoint(self, checkpoint: Checkpoint) -> Checkpoint:
        cp = checkpoint
        if cp.size < 1:
            raise ArchiveError(
                f"a checkpoint of run {cp.run_id} must cover at least one event (size {cp.size})",
                hint="checkpoint a run once it has events",
            )
        values = {**cp.to_dict()}
        try:
            with self._write("storing a checkpoint") as conn:
                self._require_run(conn, cp.run_id)
                head = conn.execute(
                    sa.select(E.c.hash).where(E.c.run_id == cp.run_id, E.c.seq == cp.size)
                ).scalar()
                if head != cp.head:
                    raise ArchiveError(
                        f"checkpoint of run {cp.run_id} at event {cp.size} names head {cp.head[:16]}..., but the "
                        + (
                            "run has no such event"
                            if head is None
                            else f"event's hash is {str(head)[:16]}..."
                        ),
                        hint="sign the trail as it is stored (godel.guard.checkpoint reads it back)",
                    )
                cid = conn.execute(sa.insert(K).returning(K.c.id), values).scalar_one()
        except sa.exc.IntegrityError:
            # Another process signed this very size first; theirs is as good as ours.
            with self._read("reading a checkpoint") as conn:
                row = conn.execute(sa.select(K).where(K.c.run_id == cp.run_id, K.c.size == cp.size)).first()
            if row is None:
                raise
            return _checkpoint(row)
        return Checkpoint(**values, id=int(cid))

    def checkpoints(self, run_id: int) -> list[Checkpoint]:
        with self._read("reading checkpoints") as conn:
            rows = conn.execute(sa.select(K).where(K.c.run_id == run_id).order_by(K.c.size, K.c.id)).all()
            if not rows:
                self._require_run(conn, run_id)
        return [_checkpoint(r) for r in rows]


def _checkpoint(row: sa.Row[Any]) -> Checkpoint:
    return Checkpoint(
        run_id=row.run_id,
        size=row.size,
        head=row.head,
        created_at=row.created_at,
        key_id=row.key_id,
        signature=row.signature,
        id=row.id,
    )
