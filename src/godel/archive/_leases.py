"""Run leases: one local owner drives a run at a time; a dead owner's lease is taken over once it goes stale.

The run row is locked while a lease is decided (SQLite: ``BEGIN IMMEDIATE``; PostgreSQL: ``FOR NO KEY UPDATE``), so
of several processes asking at once exactly one gets it. Times are this machine's clock, as for claims.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

import sqlalchemy as sa

from godel.archive._base import Lease, LeaseHeld, LeaseLost
from godel.archive._codec import text
from godel.archive._connection import SQLConnection
from godel.archive._schema import leases as L
from godel.archive._schema import runs as R
from godel.errors import ArchiveError, UnknownRun

__all__ = ["LeaseStore"]


class LeaseStore(SQLConnection):
    """``acquire_lease``, ``renew_lease``, ``release_lease`` and ``lease`` of an :class:`~godel.archive.SQLArchive`."""

    def acquire_lease(self, run_id: int, owner: str, ttl: float) -> Lease | LeaseHeld:
        if not owner:
            raise ArchiveError("a lease needs a non-empty owner id", hint="e.g. host:pid:random")
        if not ttl > 0:
            raise ArchiveError(f"a lease's ttl must be positive, not {ttl!r}", hint="e.g. 30 (seconds)")
        owner = text(owner) or owner
        with self._write("taking a run's lease") as conn:
            lock = sa.select(R.c.id).where(R.c.id == run_id).with_for_update(key_share=True)
            if conn.execute(lock).first() is None:
                raise UnknownRun(
                    f"no run with id {run_id} in the archive", hint="`godel status` lists the runs"
                )
            row = conn.execute(sa.select(L).where(L.c.run_id == run_id)).first()
            now = time.time()
            if row is None:
                lease = Lease(run_id, owner, now, now, ttl)
                conn.execute(sa.insert(L), _values(lease))
                return lease
            current = _lease(row)
            if current.owner == owner:
                lease = replace(current, renewed_at=now, ttl=ttl)  # the same owner asking again keeps it
            elif current.stale(now):
                lease = Lease(run_id, owner, now, now, ttl, taken_over_from=current.owner)
            else:
                return LeaseHeld(current, now)
            conn.execute(sa.update(L).where(L.c.run_id == run_id).values(_values(lease)))
            return lease

    def renew_lease(self, lease: Lease) -> Lease:
        with self._write("renewing a run's lease") as conn:
            now = time.time()
            n = conn.execute(
                sa.update(L)
                .where(L.c.run_id == lease.run_id, L.c.owner == lease.owner)
                .values(renewed_at=now)
            ).rowcount
            if n:
                return replace(lease, renewed_at=now)
            row = conn.execute(sa.select(L).where(L.c.run_id == lease.run_id)).first()
        what = "was released" if row is None else f"was taken over by {row.owner} after it went stale"
        raise LeaseLost(
            f"{lease.owner} no longer owns run {lease.run_id}: its lease {what}",
            hint="this process must stop driving the run; renew the lease more often than its ttl "
            f"({lease.ttl:g} s) to keep it",
        )

    def release_lease(self, lease: Lease) -> None:
        with self._write("releasing a run's lease") as conn:
            conn.execute(sa.delete(L).where(L.c.run_id == lease.run_id, L.c.owner == lease.owner))

    def lease(self, run_id: int) -> Lease | None:
        with self._read("reading a run's lease") as conn:
            row = conn.execute(sa.select(L).where(L.c.run_id == run_id)).first()
            if row is None:
                self._require_run(conn, run_id)
        return None if row is None else _lease(row)


def _values(lease: Lease) -> dict[str, Any]:
    return {
        "run_id": lease.run_id,
        "owner": lease.owner,
        "acquired_at": lease.acquired_at,
        "renewed_at": lease.renewed_at,
        "ttl": lease.ttl,
        "taken_over_from": lease.taken_over_from,
    }


def _lease(row: sa.Row[Any]) -> Lease:
    return Lease(row.run_id, row.owner, row.acquired_at, row.renewed_at, row.ttl, row.taken_over_from)
