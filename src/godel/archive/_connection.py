"""The SQL archive's plumbing: archive URLs, the SQLAlchemy engine and its SQLite settings, read and write
transactions, driver errors turned into :class:`ArchiveError`, and what a forked child must redo.

Concurrency: the object is shared by threads (each call checks a pooled connection out). Writes that must be
serialised (event appends, run meta merges) are: on SQLite every write transaction is ``BEGIN IMMEDIATE`` (one writer
at a time across processes, others wait up to ``busy_timeout``), on PostgreSQL the run row is locked with
``SELECT ... FOR NO KEY UPDATE`` (a FOR UPDATE that does not block foreign-key checks).
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any, Self

import sqlalchemy as sa
import sqlalchemy.exc
from sqlalchemy import event as sa_event
from sqlalchemy.pool import StaticPool

from godel.archive._errors import db_error
from godel.archive._migrate import migrate
from godel.archive._schema import candidates as C
from godel.archive._schema import metadata
from godel.archive._schema import runs as R
from godel.errors import ArchiveError, GodelError, UnknownCandidate, UnknownRun

__all__ = ["SUPPORTED_SCHEMES", "SQLConnection", "normalise_url"]

SUPPORTED_SCHEMES = ("sqlite", "postgresql", "postgresql+psycopg", "postgres")
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


class SQLConnection:
    """What every part of :class:`~godel.archive.SQLArchive` shares: the engine and its transactions."""

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
        self._mark = "?" if self.is_sqlite else "%s"  # the driver's parameter marker, for plain SQL
        # A SQLite file is checked (PRAGMA quick_check) before this object first writes to it, so a damaged file
        # is refused before anything is added to it; readers never pay for the check.
        self._sound = memory or not self.is_sqlite
        self._sound_lock = threading.Lock()
        try:
            migrate(self._engine, self._where, before_write=self._check_sound)
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
        if not self._sound:
            self._check_sound()
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

    def _check_sound(self) -> None:
        """Refuse to write into a damaged SQLite file (once per object; PostgreSQL checks its own pages)."""
        with self._sound_lock:
            if self._sound:
                return
            problems = self._storage_problems("quick_check")
            if problems:
                path = self._sa_url.database
                more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
                raise ArchiveError(
                    f"the SQLite archive {path} is damaged: PRAGMA quick_check reports {problems[0]!r}{more}; "
                    "godel wrote nothing to it",
                    hint=f"restore {path} from a backup (or salvage it: sqlite3 {path} .recover > salvage.sql), "
                    "or point --storage at a new file",
                )
            self._sound = True

    def _storage_problems(self, pragma: str) -> list[str]:
        """What SQLite's ``quick_check`` or ``integrity_check`` finds wrong with the file; empty when sound."""
        try:
            with self._read_lock or nullcontext(), self._engine.connect() as conn:
                rows = [str(r) for r in conn.exec_driver_sql(f"PRAGMA {pragma}").scalars()]
                conn.rollback()
        except sa.exc.SQLAlchemyError as exc:  # a page too damaged to read stops the check itself
            orig = getattr(exc, "orig", None) or exc
            return [" ".join(str(orig).split())]
        if rows == ["ok"]:
            return []
        # One line per problem: SQLite starts the first with "*** in database main ***" and a newline.
        return [" ".join(r.replace("*** in database main ***", "").split()) for r in rows]

    def check_storage(self, *, full: bool = True) -> list[str]:
        """Problems with the storage itself, empty when sound. SQLite: ``PRAGMA integrity_check`` (``full``; also
        compares every index with its table) or ``quick_check``. PostgreSQL: every table is read through, so a
        page the server cannot read is reported."""
        self._check_open()
        if self.is_sqlite:
            return self._storage_problems("integrity_check" if full else "quick_check")
        problems: list[str] = []
        for table in metadata.sorted_tables:
            try:
                with self._engine.connect() as conn:
                    conn.execute(sa.select(sa.func.count()).select_from(table)).scalar()
            except sa.exc.SQLAlchemyError as exc:
                problems.append(f"table {table.name}: {db_error(exc, self._sa_url, 'reading it through')}")
        return problems

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

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._where!r})"

    def _reset_after_fork(self) -> None:
        # Pooled connections belong to the parent; the child must open its own (SQLAlchemy's documented recipe).
        self._engine.dispose(close=False)

    @staticmethod
    def _require_run(conn: sa.Connection, run_id: int) -> None:
        if conn.execute(sa.select(R.c.id).where(R.c.id == run_id)).first() is None:
            raise UnknownRun(
                f"no run with id {run_id} in the archive", hint="`godel status --json` lists the runs"
            )

    @staticmethod
    def _require_candidate(conn: sa.Connection, cid: int) -> None:
        if conn.execute(sa.select(C.c.id).where(C.c.id == cid)).first() is None:
            raise UnknownCandidate(
                f"no candidate with id {cid} in the archive", hint="`godel show RUN` lists candidate ids"
            )


_after_fork: weakref.WeakSet[SQLConnection] = weakref.WeakSet()


def _reset_all_after_fork() -> None:
    for archive in list(_after_fork):
        archive._reset_after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_all_after_fork)
