"""Creating and upgrading the archive schema with the Alembic migrations packaged in ``godel/archive/migrations``.

Run on every open: a fresh database gets the whole schema, an archive made by an older godel is upgraded in one
transaction (SQLite also keeps a copy of the file from before), and an archive made by a newer godel is refused
before anything is written. An archive already at the head revision (every open but the first) is recognised with
one plain query, without importing Alembic (~0.2 s of CPU, most of a read command's start-up).
"""

from __future__ import annotations

import functools
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa

from godel.archive._schema import HEAD_REVISION
from godel.errors import ArchiveError

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

__all__ = ["MIGRATIONS_DIR", "alembic_config", "current_revision", "known_revisions", "migrate"]

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
_PG_LOCK_KEY = 0x60DE1  # advisory lock id serialising concurrent first opens of one PostgreSQL database


def alembic_config(connection: sa.Connection | None = None) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


@functools.cache
def _script() -> ScriptDirectory:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config())


def known_revisions() -> tuple[str, ...]:
    """Every revision this godel knows, oldest first."""
    return tuple(reversed([s.revision for s in _script().walk_revisions()]))


def head_revision() -> str:
    head = _script().get_current_head()
    if head is None:  # pragma: no cover - the package always ships migrations
        raise ArchiveError(f"no migrations found in {MIGRATIONS_DIR}", hint="reinstall godel")
    return head


def current_revision(conn: sa.Connection) -> str | None:
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(conn).get_current_revision()


def _stored_revision(conn: sa.Connection) -> str | None:
    """The revision in ``alembic_version`` read with plain SQL (None: no such table, or not exactly one row), for
    the common case of an archive at head; anything else goes through Alembic."""
    if not sa.inspect(conn).has_table("alembic_version"):
        return None
    rows = conn.exec_driver_sql("SELECT version_num FROM alembic_version").all()
    return str(rows[0][0]) if len(rows) == 1 else None


def _check(conn: sa.Connection, where: str) -> str | None:
    """The database's revision if this godel can use or upgrade it; raises ArchiveError otherwise."""
    current = current_revision(conn)
    if current is not None and current not in known_revisions():
        raise ArchiveError(
            f"the archive {where} has schema revision {current!r}, newer than this godel knows "
            f"(up to {head_revision()!r}); it was written by a newer godel",
            hint="upgrade godel (pip install -U godel) to open it; nothing in the archive was changed",
        )
    if current is None:
        names = set(sa.inspect(conn).get_table_names())
        ours = {"runs", "candidates", "events"} & names
        if ours:
            raise ArchiveError(
                f"the database {where} already has table(s) {sorted(ours)} but no godel schema revision; "
                "it is not a godel archive (or its alembic_version table was dropped)",
                hint="point the archive URL at a new database/file, or a PostgreSQL schema of its own",
            )
    return current


def _backup_sqlite(path: str, revision: str) -> Path:
    """A consistent copy of an SQLite archive before it is upgraded (sqlite3's online backup, WAL included)."""
    dest = Path(f"{path}.rev{revision}-{time.strftime('%Y%m%d-%H%M%S')}.bak")
    src = sqlite3.connect(path)
    try:
        dst = sqlite3.connect(dest)
        try:
            src.backup(dst)
        finally:
            dst.close()
    finally:
        src.close()
    return dest


def _create_fresh(engine: sa.Engine, before_write: Callable[[], None] | None) -> bool:
    """A new, empty SQLite database gets the head schema from the table definitions themselves, stamped with the
    head revision: what running every migration in turn builds (tests/archive/test_migrations.py compares the two),
    without importing Alembic and replaying the history (~0.3 s of CPU, a tenth of a short run). False when another
    process created something in the meantime: the caller's general path takes over."""
    from godel.archive._schema import metadata

    if before_write is not None:
        before_write()
    with engine.connect() as conn:
        conn.execution_options(godel_write=True)  # BEGIN IMMEDIATE: one creator at a time
        with conn.begin():
            if sa.inspect(conn).get_table_names():
                return False
            metadata.create_all(conn)
            # The table Alembic keeps, as Alembic creates it, so later upgrades of this file find their start.
            conn.exec_driver_sql(
                "CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL, "
                "CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num))"
            )
            conn.exec_driver_sql("INSERT INTO alembic_version (version_num) VALUES (?)", (HEAD_REVISION,))
    return True


def migrate(engine: sa.Engine, where: str, *, before_write: Callable[[], None] | None = None) -> None:
    """Bring the database behind ``engine`` to the head revision (create it when empty); ``before_write`` runs
    first when that needs a write (it may refuse by raising)."""
    with engine.connect() as conn:
        stored = _stored_revision(conn)
        empty = stored is None and not sa.inspect(conn).get_table_names()
        conn.rollback()
    if stored == HEAD_REVISION:
        return
    if empty and engine.dialect.name == "sqlite" and _create_fresh(engine, before_write):
        return
    head = head_revision()
    is_sqlite = engine.dialect.name == "sqlite"
    with engine.connect() as conn:
        current = _check(conn, where)
        conn.rollback()
    if current == head:
        return
    if before_write is not None:
        before_write()
    if is_sqlite and current is not None and engine.url.database not in (None, "", ":memory:"):
        _backup_sqlite(str(engine.url.database), current)
    with engine.connect() as conn:
        # BEGIN IMMEDIATE on SQLite (see _sql): a second process opening the same new file waits here and then
        # finds the schema at head instead of creating it twice.
        conn.execution_options(godel_write=True)
        with conn.begin():
            if engine.dialect.name == "postgresql":
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})
            current = _check(conn, where)
            if current != head:
                from alembic import command

                command.upgrade(alembic_config(conn), "head")
