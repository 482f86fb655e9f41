"""Candidates: insert (one or a batch, all or nothing), update an outcome, and every query selection, progress
and the commands need."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
import sqlalchemy.exc

from godel.archive._base import CandidateRow, RunStats, StoredRow
from godel.archive._codec import STATUS, decode_candidate, encode_candidate, status_of
from godel.archive._connection import SQLConnection
from godel.archive._schema import candidates as C
from godel.archive._schema import runs as R
from godel.candidate import Candidate, Status
from godel.errors import ArchiveError, UnknownCandidate, UnknownRun

__all__ = ["CandidateStore"]

_ROWS = (
    "SELECT id, iteration, parent_id, generation, status, score, flagged FROM candidates WHERE run_id = {m}"
)
_ROWS_SQL = _ROWS + " ORDER BY iteration"
_ROWS_SINCE_SQL = _ROWS + " AND updated_at > {m} ORDER BY iteration"


class CandidateStore(SQLConnection):
    """The candidates of an :class:`~godel.archive.SQLArchive`."""

    @staticmethod
    def _encode(cand: Candidate, now: float) -> dict[str, Any]:
        return encode_candidate(cand, now)

    @staticmethod
    def _decode(row: sa.Row[Any]) -> Candidate:
        return decode_candidate(row)

    def _insert_error(self, exc: sa.exc.IntegrityError, cands: Sequence[Candidate]) -> ArchiveError:
        """The specific reason a candidate insert violated a constraint (looked up after the rollback)."""
        with self._read("checking a failed insert") as conn:
            run_ids = {c.run_id for c in cands}
            known_runs = set(conn.execute(sa.select(R.c.id).where(R.c.id.in_(run_ids))).scalars())
            for c in cands:
                if c.run_id not in known_runs:
                    return UnknownRun(
                        f"cannot add a candidate to run {c.run_id}: no such run in the archive",
                        hint="create the run first (create_run)",
                    )
            parents = {c.parent_id for c in cands if c.parent_id is not None}
            known = (
                set(conn.execute(sa.select(C.c.id).where(C.c.id.in_(parents))).scalars())
                if parents
                else set()
            )
            for c in cands:
                if c.parent_id is not None and c.parent_id not in known:
                    return UnknownCandidate(
                        f"candidate (run {c.run_id}, iteration {c.iteration}) names parent {c.parent_id}, "
                        "which is not in the archive",
                        hint="store the parent first; parent_id must be the id add_candidate returned",
                    )
            seen: set[tuple[int, int]] = set()
            for c in cands:
                key = (c.run_id, c.iteration)
                other = conn.execute(
                    sa.select(C.c.id).where(C.c.run_id == c.run_id, C.c.iteration == c.iteration)
                ).scalar()
                if other is not None or key in seen:
                    return ArchiveError(
                        f"run {c.run_id} already has a candidate for iteration {c.iteration}"
                        + (f" (id {other})" if other is not None else " (twice in one batch)"),
                        hint="each iteration of a run is stored once: another process is probably driving the same "
                        "run (stop it, or wait for it to finish); a program changing a stored candidate calls "
                        "update_candidate",
                    )
                seen.add(key)
        return ArchiveError(f"the archive refused the candidate(s): {exc.orig}")

    def add_candidate(self, cand: Candidate) -> int:
        return self.add_candidates([cand])[0]

    def add_candidates(self, cands: Sequence[Candidate]) -> list[int]:
        """Insert candidates in one transaction (all or none) and set their ids; returns the ids in order."""
        if not cands:
            return []
        for c in cands:
            if c.id is not None:
                raise ArchiveError(
                    f"candidate (run {c.run_id}, iteration {c.iteration}) is already stored as id {c.id}",
                    hint="use update_candidate to change a stored candidate",
                )
        now = time.time()
        rows = [self._encode(c, now) for c in cands]
        try:
            with self._write("adding candidates") as conn:
                if len(rows) == 1:
                    ids = [conn.execute(sa.insert(C).returning(C.c.id), rows[0]).scalar_one()]
                else:
                    result = conn.execute(sa.insert(C).returning(C.c.id, sort_by_parameter_order=True), rows)
                    ids = list(result.scalars())
        except sa.exc.IntegrityError as exc:
            raise self._insert_error(exc, cands) from exc
        for c, cid in zip(cands, ids, strict=True):
            c.id = cid
        return ids

    def update_candidate(self, cand: Candidate) -> None:
        """Store the candidate's outcome; its code, run, iteration and lineage never change once stored."""
        if cand.id is None:
            raise UnknownCandidate(
                f"candidate (run {cand.run_id}, iteration {cand.iteration}) has no id: it was never stored",
                hint="add it with add_candidate first",
            )
        cand.updated_at = time.time()
        values = self._encode(cand, cand.updated_at)
        for key in ("run_id", "iteration", "parent_id", "generation", "digest", "code", "created_at"):
            del values[key]
        # Plain SQL through the driver (every candidate is updated once it is evaluated; the Core update's build
        # and compile was most of its cost). The values are already what the columns hold: text, bytes, numbers.
        m = self._mark
        sql = f"UPDATE candidates SET {', '.join(f'{k} = {m}' for k in values)} WHERE id = {m}"
        with self._write("updating a candidate") as conn:
            n = conn.exec_driver_sql(sql, (*values.values(), cand.id)).rowcount
        if n == 0:
            raise UnknownCandidate(
                f"no candidate with id {cand.id} in the archive", hint="add it with add_candidate first"
            )

    def get_candidate(self, cid: int) -> Candidate:
        with self._read("reading a candidate") as conn:
            row = conn.execute(sa.select(C).where(C.c.id == cid)).first()
        if row is None:
            raise UnknownCandidate(
                f"no candidate with id {cid} in the archive {self._where}",
                hint="`godel show RUN` lists candidate ids",
            )
        return self._decode(row)

    def candidates(
        self,
        run_id: int,
        *,
        status: Status | Sequence[Status] | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[Candidate]:
        stmt = sa.select(C).where(C.c.run_id == run_id).order_by(C.c.iteration)
        if status is not None:
            wanted = [status] if isinstance(status, str | Status) else list(status)
            stmt = stmt.where(C.c.status.in_([status_of(s).value for s in wanted]))
        if offset:
            stmt = stmt.offset(offset)
        if limit is not None:
            stmt = stmt.limit(limit)
        with self._read("listing candidates") as conn:
            rows = conn.execute(stmt).all()
            if not rows:
                self._require_run(conn, run_id)
        return [self._decode(r) for r in rows]

    def rows(self, run_id: int, *, updated_since: float | None = None) -> list[CandidateRow]:
        # The selection hot path (every candidate of a run, often): plain SQL through the driver skips the Core
        # compile and type-processing layers; the columns are plain ints, floats and strings anyway.
        st = STATUS
        with self._read("listing candidate rows") as conn:
            if updated_since is None:
                result = conn.exec_driver_sql(_ROWS_SQL.format(m=self._mark), (run_id,))
            else:
                result = conn.exec_driver_sql(_ROWS_SINCE_SQL.format(m=self._mark), (run_id, updated_since))
            out = [CandidateRow(i, it, p, g, st[s], sc, bool(f)) for i, it, p, g, s, sc, f in result]
            if not out:
                self._require_run(conn, run_id)
        return out

    def count(self, run_id: int, status: Status | None = None) -> int:
        stmt = sa.select(sa.func.count()).select_from(C).where(C.c.run_id == run_id)
        if status is not None:
            stmt = stmt.where(C.c.status == status_of(status).value)
        with self._read("counting candidates") as conn:
            n = int(conn.execute(stmt).scalar_one())
            if n == 0:
                self._require_run(conn, run_id)
        return n

    def stats(self, run_id: int) -> RunStats:
        stmt = (
            sa.select(
                C.c.status,
                sa.func.count(),
                sa.func.sum(sa.case((C.c.flagged, 1), else_=0)),
                sa.func.sum(C.c.tokens_in + C.c.tokens_out),
                sa.func.sum(C.c.cost),
            )
            .where(C.c.run_id == run_id)
            .group_by(C.c.status)
        )
        counts = {s.value: 0 for s in Status}
        flagged = tokens = 0
        cost = 0.0
        with self._read("summing a run") as conn:
            rows = conn.execute(stmt).all()
            if not rows:
                self._require_run(conn, run_id)
        for status, n, f, t, c in rows:
            counts[str(status)] = int(n)
            flagged += int(f or 0)
            tokens += int(t or 0)
            cost += float(c or 0.0)
        return RunStats(counts, flagged, tokens, cost)

    def best(self, run_id: int) -> Candidate | None:
        """The run's best: the candidate its engine accepted as best (``meta.best``: significantly better than the
        one before, under the measured noise) while it is still OK and unflagged; for a run without one, the
        highest-scoring OK candidate not flagged by the hacking detector (or cleared), earliest on ties."""
        with self._read("finding the best candidate") as conn:
            meta = conn.execute(sa.select(R.c.meta).where(R.c.id == run_id)).scalar()
            if meta is None:
                self._require_run(conn, run_id)
            accepted = (json.loads(meta) if meta else {}).get("best")
            if isinstance(accepted, dict) and isinstance(accepted.get("id"), int):
                row = conn.execute(
                    sa.select(C).where(
                        C.c.id == accepted["id"],
                        C.c.run_id == run_id,
                        C.c.status == Status.OK.value,
                        C.c.flagged.is_(False),
                    )
                ).first()
                if row is not None:
                    return self._decode(row)
            stmt = (
                sa.select(C)
                .where(
                    C.c.run_id == run_id,
                    C.c.status == Status.OK.value,
                    C.c.score.is_not(None),
                    C.c.flagged.is_(False),
                )
                .order_by(C.c.score.desc(), C.c.iteration)
                .limit(1)
            )
            row = conn.execute(stmt).first()
        return None if row is None else self._decode(row)

    def children(self, cid: int) -> list[Candidate]:
        with self._read("listing children") as conn:
            rows = conn.execute(sa.select(C).where(C.c.parent_id == cid).order_by(C.c.id)).all()
            if not rows:
                self._require_candidate(conn, cid)
        return [self._decode(r) for r in rows]

    def lineage(self, cid: int) -> list[Candidate]:
        """The chain of ancestors, seed first and ``cid`` last (one recursive query)."""
        chain = (
            sa.select(C.c.id, C.c.parent_id, sa.literal(0).label("depth"))
            .where(C.c.id == cid)
            .cte("chain", recursive=True)
        )
        up = sa.select(C.c.id, C.c.parent_id, (chain.c.depth + 1).label("depth")).join(
            chain, C.c.id == chain.c.parent_id
        )
        chain = chain.union_all(up)
        stmt = sa.select(C).join(chain, C.c.id == chain.c.id).order_by(chain.c.depth.desc())
        with self._read("reading a lineage") as conn:
            rows = conn.execute(stmt).all()
        if not rows:
            raise UnknownCandidate(
                f"no candidate with id {cid} in the archive {self._where}",
                hint="`godel show RUN` lists candidate ids",
            )
        return [self._decode(r) for r in rows]

    def find_by_digest(self, run_id: int, digest: str) -> int | None:
        """The first stored candidate of the run whose code has this digest (any status), or None."""
        stmt = sa.select(C.c.id).where(C.c.run_id == run_id, C.c.digest == digest).order_by(C.c.id).limit(1)
        with self._read("looking up a digest") as conn:
            cid = conn.execute(stmt).scalar()
            if cid is None:
                self._require_run(conn, run_id)
        return None if cid is None else int(cid)

    def stored_rows(self, run_id: int) -> list[StoredRow]:
        stmt = (
            sa.select(C.c.id, C.c.iteration, C.c.status, C.c.score, C.c.flagged, C.c.digest)
            .where(C.c.run_id == run_id)
            .order_by(C.c.iteration)
        )
        with self._read("reading candidate outcomes") as conn:
            rows = conn.execute(stmt).all()
            if not rows:
                self._require_run(conn, run_id)
        return [StoredRow(r.id, r.iteration, str(r.status), r.score, bool(r.flagged), r.digest) for r in rows]
