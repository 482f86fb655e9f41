"""The SQL archive: one implementation for SQLite and PostgreSQL on SQLAlchemy 2 Core.

Concurrency: the object is shared by threads (each call checks a pooled connection out). Writes that must be
serialised (event appends, run meta merges) are: on SQLite every write transaction is ``BEGIN IMMEDIATE`` (one writer
at a time across processes, others wait up to ``busy_timeout``), on PostgreSQL the run row is locked with
``SELECT ... FOR NO KEY UPDATE`` (a FOR UPDATE that does not block foreign-key checks).
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
import weakref
import zlib
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import sqlalchemy.exc
from sqlalchemy import event as sa_event
from sqlalchemy.pool import StaticPool

from godel.archive._base import CandidateRow, Event, RunInfo, RunStats
from godel.archive._chain import GENESIS, canonical_json, event_hash
from godel.archive._errors import db_error
from godel.archive._migrate import migrate
from godel.archive._schema import candidates as C
from godel.archive._schema import events as E
from godel.archive._schema import runs as R
from godel.candidate import Candidate, Program, Status
from godel.errors import ArchiveError, GodelError, UnknownCandidate, UnknownRun

__all__ = ["RUN_STATUSES", "SUPPORTED_SCHEMES", "SQLArchive", "normalise_url"]

SUPPORTED_SCHEMES = ("sqlite", "postgresql", "postgresql+psycopg", "postgres")
RUN_STATUSES = ("running", "stopped", "finished", "failed")
_STATUS = {s.value: s for s in Status}
_ZLEVEL = 6
_SQLITE_BUSY_MS = 30_000


def _enable_wal(cur: Any) -> None:
    """``PRAGMA journal_mode = WAL``, waiting out other connections that are creating the same new file.

    Switching a file into WAL needs an exclusive lock, and SQLite answers "database is locked" at once rather than
    through the busy handler; four processes opening one new archive together lost that race about one time in
    fifteen under load. Retried with backoff, bounded by the busy timeout.
    """
    deadline = time.monotonic() + _SQLITE_BUSY_MS / 1000
    delay = 0.001
    while True:
        try:
            cur.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() + delay > deadline:
                raise
        time.sleep(delay)
        delay = min(delay * 2, 0.05)


def normalise_url(url: str) -> tuple[sa.URL, bool]:
    """The SQLAlchemy URL for an archive URL, and whether it is an in-memory SQLite database.

    Relative SQLite paths are made absolute against the current directory (so worker processes started elsewhere
    open the same file) and their parent directories are created. ``postgresql://`` and ``postgres://`` use
    psycopg 3.
    """
    try:
        u = sa.make_url(url)
    except sa.exc.ArgumentError as exc:
        raise ArchiveError(
            f"{url!r} is not a database URL",
            hint="use sqlite:///path/to/archive.db or postgresql+psycopg://user:password@host:port/database",
        ) from exc
    scheme = u.drivername
    if scheme in ("sqlite", "sqlite+pysqlite"):
        db = u.database or ""
        if db in ("", ":memory:"):
            return u.set(drivername="sqlite+pysqlite", database=":memory:"), True
        path = Path(db).expanduser()
        if not path.is_absolute():
            path = Path.cwd() / path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ArchiveError(
                f"cannot create the directory {path.parent} for the SQLite archive: {exc}",
                hint="choose a path in a writable directory",
            ) from exc
        if path.is_dir():
            raise ArchiveError(
                f"the SQLite archive path {path} is a directory",
                hint="give a file name, e.g. .godel/archive.db",
            )
        return u.set(drivername="sqlite+pysqlite", database=str(path)), False
    if scheme in ("postgresql", "postgres", "postgresql+psycopg"):
        return u.set(drivername="postgresql+psycopg"), False
    raise ArchiveError(
        f"unsupported archive URL scheme {scheme!r} in {u.render_as_string(hide_password=True)!r}; "
        f"supported: {', '.join(SUPPORTED_SCHEMES)}",
        hint="use sqlite:///path/to/archive.db or postgresql+psycopg://user:password@host:port/database",
    )


def _z(text: str) -> bytes:
    return zlib.compress(text.encode(), _ZLEVEL)


def _unz(blob: bytes) -> str:
    return zlib.decompress(blob).decode()


_ENCODER = json.JSONEncoder(separators=(",", ":"))  # built once: json.dumps builds one per call


def _dumps(value: Any, what: str) -> str:
    if not value and isinstance(value, dict | list):
        return "{}" if isinstance(value, dict) else "[]"
    try:
        return _ENCODER.encode(value)
    except (TypeError, ValueError) as exc:
        raise ArchiveError(
            f"{what} is not JSON-serialisable: {exc}",
            hint="store only str/int/float/bool/None, lists and dicts with string keys",
        ) from exc


def _text(value: str | None) -> str | None:
    # PostgreSQL text cannot hold NUL; a crash message may contain one. Everything else is kept as given.
    return None if value is None else value.replace("\x00", "\ufffd")


def _flagged(cand: Candidate) -> bool:
    return bool(cand.flags) and cand.verdict.get("cleared") is not True


def _status(value: Status | str) -> Status:
    try:
        return _STATUS[str(value.value if isinstance(value, Status) else value)]
    except KeyError:
        raise ArchiveError(
            f"unknown candidate status {value!r}", hint=f"use one of {', '.join(_STATUS)}"
        ) from None


class SQLArchive:
    """An :class:`~godel.archive.Archive` in an SQL database (``sqlite:///path`` or ``postgresql+psycopg://...``)."""

    def __init__(self, url: str, *, pool_size: int = 5, connect_timeout: float = 10.0) -> None:
        self._sa_url, memory = normalise_url(url)
        self.url: str = self._sa_url.render_as_string(hide_password=False)
        self._where = self._sa_url.render_as_string(hide_password=True)
        self._closed = False
        self.is_sqlite = self._sa_url.get_backend_name() == "sqlite"
        # SQLite has one writer at a time anyway; queueing our own threads here instead of in SQLite's busy
        # handler (which sleeps in growing steps) keeps concurrent writers fast. An in-memory database is a single
        # shared connection, so reads take the lock too.
        self._write_lock: threading.Lock | None = threading.Lock() if self.is_sqlite else None
        self._read_lock = self._write_lock if memory else None
        self._engine = self._make_engine(memory, pool_size, connect_timeout)
        self._rows_sql = (
            "SELECT id, iteration, parent_id, generation, status, score, flagged FROM candidates "
            f"WHERE run_id = {'?' if self.is_sqlite else '%s'} ORDER BY iteration"
        )
        mark = "?" if self.is_sqlite else "%s"
        self._rows_since_sql = (
            "SELECT id, iteration, parent_id, generation, status, score, flagged FROM candidates "
            f"WHERE run_id = {mark} AND updated_at > {mark} ORDER BY iteration"
        )
        try:
            migrate(self._engine, self._where)
        except GodelError:
            self._engine.dispose()
            raise
        except sa.exc.SQLAlchemyError as exc:
            self._engine.dispose()
            raise db_error(exc, self._sa_url, "opening the archive") from exc
        except ImportError as exc:  # pragma: no cover - psycopg is an optional dependency
            self._engine.dispose()
            raise ArchiveError(
                f"the PostgreSQL driver is not installed ({exc})", hint="pip install 'godel[postgres]'"
            ) from exc
        _after_fork.add(self)

    # -- plumbing -----------------------------------------------------------------------------------------------

    def _make_engine(self, memory: bool, pool_size: int, connect_timeout: float) -> sa.Engine:
        if self.is_sqlite:
            kwargs: dict[str, Any] = {
                "connect_args": {"check_same_thread": False, "timeout": _SQLITE_BUSY_MS / 1000},
            }
            if memory:
                kwargs["poolclass"] = StaticPool
            else:
                kwargs["pool_size"] = pool_size
                kwargs["max_overflow"] = 2 * pool_size
            engine = sa.create_engine(self._sa_url, **kwargs)

            @sa_event.listens_for(engine, "connect")
            def _on_connect(dbapi_conn: Any, _record: Any) -> None:
                # Let SQLAlchemy's begin event emit BEGIN itself (pysqlite would otherwise start transactions
                # lazily and never as IMMEDIATE).
                dbapi_conn.isolation_level = None
                cur = dbapi_conn.cursor()
                try:
                    cur.execute(f"PRAGMA busy_timeout = {_SQLITE_BUSY_MS}")
                    _enable_wal(cur)
                    cur.execute("PRAGMA synchronous = NORMAL")
                    cur.execute("PRAGMA foreign_keys = ON")
                    cur.execute("PRAGMA temp_store = MEMORY")
                    cur.execute("PRAGMA cache_size = -32000")
                finally:
                    cur.close()

            @sa_event.listens_for(engine, "begin")
            def _on_begin(conn: sa.Connection) -> None:
                write = conn.get_execution_options().get("godel_write", False)
                conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

            return engine
        return sa.create_engine(
            self._sa_url,
            pool_size=pool_size,
            max_overflow=2 * pool_size,
            pool_pre_ping=True,
            connect_args={"connect_timeout": max(1, int(connect_timeout)), "application_name": "godel"},
        )

    @contextmanager
    def _read(self, action: str) -> Iterator[sa.Connection]:
        self._check_open()
        with self._read_lock or nullcontext(), self._translate(action), self._engine.connect() as conn:
            yield conn

    @contextmanager
    def _write(self, action: str) -> Iterator[sa.Connection]:
        self._check_open()
        with self._write_lock or nullcontext(), self._translate(action), self._engine.connect() as conn:
            conn.execution_options(godel_write=True)
            with conn.begin():
                yield conn

    @contextmanager
    def _translate(self, action: str) -> Iterator[None]:
        try:
            yield
        except GodelError:
            raise
        except sa.exc.IntegrityError:
            raise  # the caller knows which constraint it means
        except sa.exc.SQLAlchemyError as exc:
            raise db_error(exc, self._sa_url, action) from exc

    def _check_open(self) -> None:
        if self._closed:
            raise ArchiveError(
                f"the archive {self._where} is closed", hint="open it again with open_archive(url)"
            )

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._engine.dispose()
            _after_fork.discard(self)

    def __enter__(self) -> SQLArchive:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"SQLArchive({self._where!r})"

    def _reset_after_fork(self) -> None:
        # Pooled connections belong to the parent; the child must open its own (SQLAlchemy's documented recipe).
        self._engine.dispose(close=False)

    @staticmethod
    def _require_run(conn: sa.Connection, run_id: int) -> None:
        if conn.execute(sa.select(R.c.id).where(R.c.id == run_id)).first() is None:
            raise UnknownRun(f"no run with id {run_id} in the archive", hint="`godel runs` lists the runs")

    @staticmethod
    def _require_candidate(conn: sa.Connection, cid: int) -> None:
        if conn.execute(sa.select(C.c.id).where(C.c.id == cid)).first() is None:
            raise UnknownCandidate(
                f"no candidate with id {cid} in the archive", hint="`godel show RUN` lists candidate ids"
            )

    # -- runs ---------------------------------------------------------------------------------------------------

    @staticmethod
    def _run_info(row: sa.Row[Any]) -> RunInfo:
        return RunInfo(
            id=row.id,
            name=row.name,
            task=row.task,
            config=json.loads(row.config),
            status=row.status,
            meta=json.loads(row.meta),
            created_at=row.created_at,
            updated_at=row.updated_at,
        )

    def create_run(
        self, name: str, task: str, config: Mapping[str, Any], meta: Mapping[str, Any] | None = None
    ) -> RunInfo:
        if not name:
            raise ArchiveError("a run needs a non-empty name", hint="pass a name, e.g. the task name")
        now = time.time()
        values = {
            "name": name,
            "task": task,
            "status": "running",
            "config": _dumps(dict(config), f"config of run {name!r}"),
            "meta": _dumps(dict(meta or {}), f"meta of run {name!r}"),
            "created_at": now,
            "updated_at": now,
        }
        try:
            with self._write("creating a run") as conn:
                rid = conn.execute(sa.insert(R).returning(R.c.id), values).scalar_one()
        except sa.exc.IntegrityError as exc:
            raise ArchiveError(
                f"a run named {name!r} already exists in {self._where}",
                hint="choose another name, or resume that run",
            ) from exc
        return self._run_info_from(rid, values)

    @staticmethod
    def _run_info_from(rid: int, v: Mapping[str, Any]) -> RunInfo:
        return RunInfo(
            id=rid,
            name=v["name"],
            task=v["task"],
            config=json.loads(v["config"]),
            status=v["status"],
            meta=json.loads(v["meta"]),
            created_at=v["created_at"],
            updated_at=v["updated_at"],
        )

    def get_run(self, run: int | str) -> RunInfo:
        with self._read("reading a run") as conn:
            row = None
            if isinstance(run, int) and not isinstance(run, bool):
                row = conn.execute(sa.select(R).where(R.c.id == run)).first()
            else:
                row = conn.execute(sa.select(R).where(R.c.name == str(run))).first()
                if row is None and str(run).isdigit():
                    row = conn.execute(sa.select(R).where(R.c.id == int(str(run)))).first()
        if row is None:
            raise UnknownRun(
                f"no run {run!r} in the archive {self._where}", hint="`godel runs` lists the runs"
            )
        return self._run_info(row)

    def runs(self) -> list[RunInfo]:
        with self._read("listing runs") as conn:
            return [self._run_info(r) for r in conn.execute(sa.select(R).order_by(R.c.id))]

    def latest_run(self, task: str | None = None) -> RunInfo | None:
        stmt = sa.select(R).order_by(R.c.id.desc()).limit(1)
        if task is not None:
            stmt = stmt.where(R.c.task == task)
        with self._read("reading the latest run") as conn:
            row = conn.execute(stmt).first()
        return None if row is None else self._run_info(row)

    def update_run(
        self, run_id: int, *, status: str | None = None, meta: Mapping[str, Any] | None = None
    ) -> None:
        """Set the status and/or merge ``meta`` into the run's meta (keys given replace keys stored)."""
        if status is not None and status not in RUN_STATUSES:
            raise ArchiveError(f"unknown run status {status!r}", hint=f"use one of {', '.join(RUN_STATUSES)}")
        with self._write("updating a run") as conn:
            row = conn.execute(
                sa.select(R.c.meta).where(R.c.id == run_id).with_for_update(key_share=True)
            ).first()
            if row is None:
                raise UnknownRun(
                    f"no run with id {run_id} in the archive", hint="`godel runs` lists the runs"
                )
            values: dict[str, Any] = {"updated_at": time.time()}
            if status is not None:
                values["status"] = status
            if meta:
                merged = json.loads(row.meta)
                merged.update(meta)
                values["meta"] = _dumps(merged, f"meta of run {run_id}")
            conn.execute(sa.update(R).where(R.c.id == run_id).values(values))

    # -- candidates ---------------------------------------------------------------------------------------------

    @staticmethod
    def _encode(cand: Candidate, now: float) -> dict[str, Any]:
        status = _status(cand.status)
        what = f"candidate (run {cand.run_id}, iteration {cand.iteration})"
        if status in (Status.FAILED, Status.REJECTED):
            if cand.score is not None:
                raise ArchiveError(
                    f"{what} is {status.value} but carries score {cand.score}",
                    hint="failed and rejected candidates are never scored: set score to None and give a reason",
                )
            if not cand.reason:
                raise ArchiveError(
                    f"{what} is {status.value} without a reason", hint="set Candidate.reason to why it failed"
                )
        if cand.created_at <= 0:
            cand.created_at = now
        if cand.updated_at <= 0:
            cand.updated_at = cand.created_at
        detail = {
            "prompt": cand.prompt,
            "edit": cand.edit,
            "artifacts": cand.artifacts,
            "evaluation": cand.evaluation,
        }
        return {
            "run_id": cand.run_id,
            "iteration": cand.iteration,
            "parent_id": cand.parent_id,
            "generation": cand.generation,
            "status": status.value,
            "score": cand.score,
            "flagged": _flagged(cand),
            "digest": cand.program.digest(),
            "code": _z(cand.program.to_json()),
            "diff": None if cand.diff is None else _z(cand.diff),
            "detail": _z(_dumps(detail, f"{what}: prompt/edit/artifacts/evaluation")),
            "metrics": _dumps(cand.metrics, f"{what}: metrics"),
            "verdict": _dumps(cand.verdict, f"{what}: verdict"),
            "flags": _dumps(list(cand.flags), f"{what}: flags"),
            "timings": _dumps(cand.timings, f"{what}: timings"),
            "reason": _text(cand.reason),
            "failure_stage": _text(cand.failure_stage),
            "proposer": _text(cand.proposer),
            "model": _text(cand.model),
            "tokens_in": cand.tokens_in,
            "tokens_out": cand.tokens_out,
            "cost": cand.cost,
            "created_at": cand.created_at,
            "updated_at": cand.updated_at,
        }

    @staticmethod
    def _decode(row: sa.Row[Any]) -> Candidate:
        detail = json.loads(_unz(row.detail))
        return Candidate(
            id=row.id,
            run_id=row.run_id,
            iteration=row.iteration,
            program=Program.from_json(_unz(row.code)),
            parent_id=row.parent_id,
            generation=row.generation,
            status=_STATUS[row.status],
            score=row.score,
            metrics=json.loads(row.metrics),
            artifacts=detail["artifacts"],
            reason=row.reason,
            failure_stage=row.failure_stage,
            proposer=row.proposer,
            model=row.model,
            prompt=detail["prompt"],
            edit=detail["edit"],
            diff=None if row.diff is None else _unz(row.diff),
            tokens_in=row.tokens_in,
            tokens_out=row.tokens_out,
            cost=row.cost,
            verdict=json.loads(row.verdict),
            flags=json.loads(row.flags),
            evaluation=detail["evaluation"],
            timings=json.loads(row.timings),
            created_at=row.created_at,
            updated_at=row.updated_at,
        )

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
                        hint="each iteration of a run is stored once; use update_candidate to change it",
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
        with self._write("updating a candidate") as conn:
            n = conn.execute(sa.update(C).where(C.c.id == cand.id).values(values)).rowcount
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
            stmt = stmt.where(C.c.status.in_([_status(s).value for s in wanted]))
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
        st = _STATUS
        with self._read("listing candidate rows") as conn:
            if updated_since is None:
                result = conn.exec_driver_sql(self._rows_sql, (run_id,))
            else:
                result = conn.exec_driver_sql(self._rows_since_sql, (run_id, updated_since))
            out = [CandidateRow(i, it, p, g, st[s], sc, bool(f)) for i, it, p, g, s, sc, f in result]
            if not out:
                self._require_run(conn, run_id)
        return out

    def count(self, run_id: int, status: Status | None = None) -> int:
        stmt = sa.select(sa.func.count()).select_from(C).where(C.c.run_id == run_id)
        if status is not None:
            stmt = stmt.where(C.c.status == _status(status).value)
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
        """The highest-scoring OK candidate not flagged by the hacking detector (or cleared); earliest wins ties."""
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
        with self._read("finding the best candidate") as conn:
            row = conn.execute(stmt).first()
            if row is None:
                self._require_run(conn, run_id)
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

    # -- multi-worker claims ------------------------------------------------------------------------------------

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
                row.update(claimed_by=_text(worker), claimed_at=now, heartbeat_at=now)
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
                .values(claimed_by=_text(worker), claimed_at=now, heartbeat_at=now)
            )
        return self._decode(row)

    # -- events -------------------------------------------------------------------------------------------------

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


_after_fork: weakref.WeakSet[SQLArchive] = weakref.WeakSet()


def _reset_all_after_fork() -> None:
    for archive in list(_after_fork):
        archive._reset_after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_all_after_fork)
