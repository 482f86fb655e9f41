"""Multi-worker claims: several processes share one run, each holding the pending candidates it evaluates."""

from __future__ import annotations

import time
from collections.abc import Sequence

import sqlalchemy as sa
import sqlalchemy.exc

from godel.archive._candidates import CandidateStore
from godel.archive._codec import text
from godel.archive._schema import candidates as C
from godel.archive._schema import runs as R
from godel.candidate import Candidate, Status
from godel.errors import ArchiveError, UnknownRun

__all__ = ["ClaimStore"]


class ClaimStore(CandidateStore):
    """``claim_next``, ``heartbeat`` and ``reclaim`` of an :class:`~godel.archive.SQLArchive`."""

    def claim_next(self, cand: Candidate, worker: str, limit: int) -> int | None:
        if cand.id is not None:
            raise ArchiveError(
                f"candidate (run {cand.run_id}) is already stored as id {cand.id}",
                hint="claim_next stores new candidates only",
            )
        now = time.time()
        try:
            with self._write("claiming an iteration") as conn:
                # The run row lock serialises iteration numbering across workers (SQLite: BEGIN IMMEDIATE did).
                lock = sa.select(R.c.id).where(R.c.id == cand.run_id).with_for_update()
                if conn.execute(lock).first() is None:
                    raise UnknownRun(
                        f"no run with id {cand.run_id} in the archive", hint="`godel status` lists runs"
                    )
                top = conn.execute(
                    sa.select(sa.func.max(C.c.iteration)).where(C.c.run_id == cand.run_id)
                ).scalar()
                iteration = 0 if top is None else int(top) + 1
                if iteration > limit:
                    return None
                cand.iteration = iteration
                row = self._encode(cand, now)
                row.update(claimed_by=text(worker), claimed_at=now, heartbeat_at=now)
                cid = int(conn.execute(sa.insert(C).returning(C.c.id), row).scalar_one())
        except sa.exc.IntegrityError as exc:
            raise self._insert_error(exc, [cand]) from exc
        cand.id = cid
        return cid

    def heartbeat(self, worker: str, cids: Sequence[int]) -> None:
        if not cids:
            return
        with self._write("recording a heartbeat") as conn:
            conn.execute(
                sa.update(C)
                .where(C.c.id.in_(list(cids)), C.c.claimed_by == worker)
                .values(heartbeat_at=time.time())
            )

    def reclaim(self, run_id: int, worker: str, stale_after: float) -> Candidate | None:
        now = time.time()
        cut = now - stale_after
        with self._write("reclaiming a stale claim") as conn:
            stmt = (
                sa.select(C)
                .where(
                    C.c.run_id == run_id,
                    C.c.status == Status.PENDING.value,
                    sa.func.coalesce(C.c.heartbeat_at, C.c.updated_at) < cut,
                )
                .order_by(C.c.iteration)
                .limit(1)
                .with_for_update(skip_locked=True)
            )
            row = conn.execute(stmt).first()
            if row is None:
                return None
            conn.execute(
                sa.update(C)
                .where(C.c.id == row.id)
                .values(claimed_by=text(worker), claimed_at=now, heartbeat_at=now)
            )
        return self._decode(row)
