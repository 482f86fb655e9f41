"""Run leases: one local owner drives a run at a time; a dead owner's lease is taken over once it goes stale.

The run row is locked while a lease is decided (SQLite: ``BEGIN IMMEDIATE``; PostgreSQL: ``FOR NO KEY UPDATE``), so
of several processes asking at once exactly one gets it. Times are this machine's clock, as for claims.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from godel.archive._base import Lease, LeaseHeld, LeaseLost
from godel.archive._codec import text
from godel.archive._connection import SQLConnection
from godel.archive._schema import leases as L
from godel.archive._schema import runs as R
from godel.errors import ArchiveError, GodelError, UnknownRun

if TYPE_CHECKING:
    from godel.archive._base import Archive

__all__ = ["LeaseKeeper", "LeaseStore", "local_owner"]


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
            elif current.stale(now) or _gone(current.owner):
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


def _gone(owner: str) -> bool:
    """A holder on this machine whose process no longer exists (killed with -9, say) holds nothing: waiting out its
    ttl would only delay the resume. Holders elsewhere are judged by their heartbeat alone."""
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # alive, someone else's
    return False


def local_owner() -> str:
    """An owner id for this process: host, pid and a random suffix (a pid can be reused after a crash)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class LeaseKeeper:
    """Holds a run's lease for this process: takes it (RunLeased, naming the live holder, when another has it),
    renews it from a background thread every ``ttl / 3`` seconds, and gives it back on ``close``.

    When the lease is lost (this process stalled for longer than ``ttl`` and another took the run over), ``lost``
    holds the LeaseLost error, ``on_lost`` is called with it, and renewing stops: the owner must stop driving the run.
    A renewal that fails for another reason (the database briefly unreachable) is retried at the next beat; the last
    such error is kept in ``error``.
    """

    def __init__(
        self,
        archive: Archive,
        run_id: int,
        owner: str | None = None,
        *,
        ttl: float = 30.0,
        on_lost: Callable[[LeaseLost], None] | None = None,
    ) -> None:
        got = archive.acquire_lease(run_id, owner or local_owner(), ttl)
        if isinstance(got, LeaseHeld):
            raise got.error()
        self.archive = archive
        self.lease: Lease = got
        self.on_lost = on_lost
        self.lost: LeaseLost | None = None
        self.error: GodelError | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"godel-lease-{run_id}", daemon=True)
        self._thread.start()

    def _beat(self) -> None:
        while not self._stop.wait(self.lease.ttl / 3):
            try:
                self.lease = self.archive.renew_lease(self.lease)
            except LeaseLost as exc:
                self.lost = exc
                if self.on_lost is not None:
                    self.on_lost(exc)
                return
            except GodelError as exc:  # retried at the next beat; kept for the owner to see
                self.error = exc

    def close(self) -> None:
        """Stop renewing and give the run back (nothing to give when it was lost)."""
        self._stop.set()
        self._thread.join()
        if self.lost is None:
            self.archive.release_lease(self.lease)

    def __enter__(self) -> LeaseKeeper:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
