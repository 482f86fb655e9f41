"""Events: appended to each run's hash chain (see :mod:`godel.archive._chain`), read back in order."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from godel.archive._base import Event
from godel.archive._chain import GENESIS, canonical_json, event_hash
from godel.archive._connection import SQLConnection
from godel.archive._schema import events as E
from godel.archive._schema import runs as R
from godel.errors import ArchiveError, UnknownRun

__all__ = ["EventStore"]


class EventStore(SQLConnection):
    """The event chains of an :class:`~godel.archive.SQLArchive`."""

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
        with self._write("appending an event") as conn:
            # Serialises appends to one run: a row lock on PostgreSQL; on SQLite BEGIN IMMEDIATE already did.
            # FOR NO KEY UPDATE (key_share) still excludes other appenders but not candidate inserts, whose
            # foreign-key checks only take KEY SHARE on the run row.
            lock = sa.select(R.c.id).where(R.c.id == run_id).with_for_update(key_share=True)
            if conn.execute(lock).first() is None:
                raise UnknownRun(
                    f"no run with id {run_id} in the archive", hint="`godel runs` lists the runs"
                )
            last = conn.execute(
                sa.select(E.c.seq, E.c.hash).where(E.c.run_id == run_id).order_by(E.c.seq.desc()).limit(1)
            ).first()
            seq, prev = (1, GENESIS) if last is None else (last.seq + 1, last.hash)
            created_at = time.time()
            digest = event_hash(prev, run_id, seq, kind, actor, data, created_at)
            eid = conn.execute(
                sa.insert(E).returning(E.c.id),
                {
                    "run_id": run_id,
                    "seq": seq,
                    "kind": kind,
                    "actor": actor,
                    "payload": text,
                    "created_at": created_at,
                    "prev_hash": prev,
                    "hash": digest,
                },
            ).scalar_one()
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
