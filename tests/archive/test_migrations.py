"""Schema creation and upgrades, and refusing archives this godel cannot use without losing what they hold."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from godel.archive import GENESIS, SQLArchive, event_hash, open_archive, verify_chain
from godel.archive._migrate import alembic_config, head_revision, known_revisions, migrate
from godel.archive._schema import HEAD_REVISION, metadata
from godel.archive._schema import candidates as C
from godel.archive._schema import events as E
from godel.archive._schema import runs as R
from godel.archive.testing import make_candidate
from godel.candidate import Status
from godel.errors import ArchiveError


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/archive.db"
    return str(request.getfixturevalue("pg_schema_url"))


@pytest.fixture
def raw_engine(db_url: str) -> Iterator[sa.Engine]:
    """A plain engine on the same store, bypassing the archive (what an older godel or an operator would do)."""
    url = sa.make_url(db_url)
    if url.get_backend_name() == "postgresql":
        url = url.set(drivername="postgresql+psycopg")
    engine = sa.create_engine(url)
    yield engine
    engine.dispose()


def test_revisions_chain_to_the_schema_head() -> None:
    assert known_revisions() == ("0001", "0002", "0003", "0004")
    assert head_revision() == HEAD_REVISION


def test_migrations_build_exactly_the_schema_the_code_uses(db_url: str, raw_engine: sa.Engine) -> None:
    open_archive(db_url).close()
    with raw_engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(ctx, metadata) == []
        assert ctx.get_current_revision() == HEAD_REVISION


def _make_base_archive(raw_engine: sa.Engine) -> tuple[int, list[int]]:
    """An archive at revision 0001 with a run, a small lineage and two chained events, written as godel 0001 did."""
    with raw_engine.begin() as conn:
        command.upgrade(alembic_config(conn), "0001")
    now = time.time()
    with raw_engine.begin() as conn:
        rid = conn.execute(
            sa.insert(R).returning(R.c.id),
            {
                "name": "old",
                "task": "t",
                "status": "finished",
                "config": '{"a":1}',
                "meta": "{}",
                "created_at": now,
                "updated_at": now,
            },
        ).scalar_one()
        ids: list[int] = []
        parent = None
        for i in range(3):
            cand = make_candidate(rid, i, parent_id=parent, generation=i, status=Status.OK, score=float(i))
            row = SQLArchive._encode(cand, now)  # the 0001 columns: no claim columns yet
            parent = conn.execute(sa.insert(C).returning(C.c.id), row).scalar_one()
            ids.append(parent)
        prev = GENESIS
        for seq in (1, 2):
            h = event_hash(prev, rid, seq, "old", "engine", {"seq": seq}, now + seq)
            conn.execute(
                sa.insert(E),
                {
                    "run_id": rid,
                    "seq": seq,
                    "kind": "old",
                    "actor": "engine",
                    "payload": f'{{"seq":{seq}}}',
                    "created_at": now + seq,
                    "prev_hash": prev,
                    "hash": h,
                },
            )
            prev = h
    return rid, ids


def test_archive_at_base_revision_is_upgraded_with_its_data(db_url: str, raw_engine: sa.Engine) -> None:
    rid, ids = _make_base_archive(raw_engine)
    with raw_engine.connect() as conn:
        assert MigrationContext.configure(conn).get_current_revision() == "0001"
        assert "claimed_by" not in {c["name"] for c in sa.inspect(conn).get_columns("candidates")}
    with closing(open_archive(db_url)) as archive:
        assert [c.id for c in archive.lineage(ids[-1])] == ids
        assert [c.score for c in archive.candidates(rid)] == [0.0, 1.0, 2.0]
        assert verify_chain(archive.events(rid)) == 2
        ev = archive.add_event(rid, "new", {"after": "upgrade"})
        assert ev.seq == 3
        archive.add_candidate(make_candidate(rid, 3, parent_id=ids[-1], generation=3))
    with raw_engine.connect() as conn:
        assert MigrationContext.configure(conn).get_current_revision() == HEAD_REVISION
        cols = {c["name"] for c in sa.inspect(conn).get_columns("candidates")}
        assert {"claimed_by", "claimed_at", "heartbeat_at"} <= cols
        assert (
            conn.execute(sa.select(sa.func.count()).select_from(C).where(C.c.claimed_by.is_(None))).scalar()
            == 4
        )
    if db_url.startswith("sqlite"):
        path = Path(sa.make_url(db_url).database or "")
        backups = list(path.parent.glob(path.name + ".rev0001-*.bak"))
        assert len(backups) == 1
        with sa.create_engine(f"sqlite:///{backups[0]}").connect() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM candidates")).scalar() == 3


def test_newer_revision_is_refused_and_left_alone(db_url: str, raw_engine: sa.Engine) -> None:
    with closing(open_archive(db_url)) as archive:
        run = archive.create_run("r", "t", {})
        archive.add_candidate(make_candidate(run.id, 0))
    with raw_engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '0099_from_the_future'"))
    with pytest.raises(ArchiveError, match="newer than this godel") as info:
        open_archive(db_url)
    assert "0099_from_the_future" in str(info.value) and "upgrade godel" in str(info.value)
    with raw_engine.connect() as conn:
        assert (
            conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
            == "0099_from_the_future"
        )
        assert conn.execute(sa.text("SELECT count(*) FROM candidates")).scalar() == 1


def test_foreign_tables_are_not_taken_over(db_url: str, raw_engine: sa.Engine) -> None:
    with raw_engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE runs (x INTEGER)"))
        conn.execute(sa.text("INSERT INTO runs VALUES (42)"))
    with pytest.raises(ArchiveError, match="not a godel archive"):
        open_archive(db_url)
    with raw_engine.connect() as conn:
        assert conn.execute(sa.text("SELECT x FROM runs")).scalar() == 42


def _open_all_at_once(url: str, openers: int) -> list[BaseException]:
    """Open the archive at ``url`` from ``openers`` threads released together; the errors they raised."""
    errors: list[BaseException] = []
    barrier = threading.Barrier(openers)

    def opener() -> None:
        try:
            barrier.wait()
            open_archive(url).close()
        except BaseException as exc:  # returned to the test
            errors.append(exc)

    threads = [threading.Thread(target=opener) for _ in range(openers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


def test_concurrent_first_opens_create_the_schema_once(db_url: str) -> None:
    assert _open_all_at_once(db_url, 4) == []
    with closing(open_archive(db_url)) as archive:
        assert archive.runs() == []


def test_corrupt_sqlite_file_is_an_archive_error(tmp_path: Path) -> None:
    path = tmp_path / "archive.db"
    garbage = bytes(range(256)) * 64
    path.write_bytes(garbage)
    with pytest.raises(ArchiveError, match="not a usable godel archive") as info:
        open_archive(f"sqlite:///{path}")
    assert str(path) in str(info.value) and "backup" in str(info.value)
    assert path.read_bytes() == garbage  # nothing written


def test_sqlite_file_with_a_broken_header(tmp_path: Path) -> None:
    path = tmp_path / "archive.db"
    with closing(open_archive(f"sqlite:///{path}")) as archive:
        archive.create_run("r", "t", {})
    data = bytearray(path.read_bytes())
    data[:16] = b"not sqlite at al"
    path.write_bytes(bytes(data))
    with pytest.raises(ArchiveError, match="not a usable godel archive"):
        open_archive(f"sqlite:///{path}")
    assert path.read_bytes() == bytes(data)


def test_empty_file_becomes_an_archive(tmp_path: Path) -> None:
    path = tmp_path / "archive.db"
    path.touch()
    with closing(open_archive(f"sqlite:///{path}")) as archive:
        assert archive.runs() == []


def test_many_processes_racing_to_create_one_sqlite_file(tmp_path: Path) -> None:
    """Switching a new file to WAL answers "locked" at once instead of waiting; openers must wait it out."""
    for i in range(15):
        errors = _open_all_at_once(f"sqlite:///{tmp_path}/race{i}.db", 6)
        assert errors == [], errors


def test_an_upgrade_asks_before_it_writes(db_url: str, raw_engine: sa.Engine) -> None:
    """A damaged SQLite file must be refused before the upgrade (or its backup) touches it: migrate asks first."""
    rid, _ = _make_base_archive(raw_engine)

    def refuse() -> None:
        raise ArchiveError("refused in test")

    with pytest.raises(ArchiveError, match="refused in test"):
        migrate(raw_engine, "test", before_write=refuse)
    with raw_engine.connect() as conn:
        assert MigrationContext.configure(conn).get_current_revision() == "0001"
    if db_url.startswith("sqlite"):
        path = Path(sa.make_url(db_url).database or "")
        assert list(path.parent.glob(path.name + ".rev*.bak")) == []  # not even the backup was made
    asked: list[bool] = []
    migrate(raw_engine, "test", before_write=lambda: asked.append(True))
    migrate(
        raw_engine, "test", before_write=lambda: asked.append(True)
    )  # at head: nothing to write, nothing asked
    assert asked == [True]
    with closing(open_archive(db_url)) as archive:
        assert (
            archive.get_run(rid).name == "old"
            and archive.checkpoints(rid) == []
            and archive.lease(rid) is None
        )


def _sqlite_shape(path: Path) -> dict[str, object]:
    """Every table's columns, indexes (with their columns), foreign keys and the stored revision, as SQLite has them."""
    import sqlite3

    con = sqlite3.connect(path)
    try:
        shape: dict[str, object] = {}
        tables = [
            r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        ]
        for t in tables:
            indexes = sorted(
                (row[1], row[2], row[3], con.execute(f"PRAGMA index_info('{row[1]}')").fetchall())
                for row in con.execute(f"PRAGMA index_list('{t}')")
            )
            shape[t] = (
                con.execute(f"PRAGMA table_info('{t}')").fetchall(),
                indexes,
                sorted(con.execute(f"PRAGMA foreign_key_list('{t}')").fetchall()),
            )
        shape["revision"] = con.execute("SELECT version_num FROM alembic_version").fetchall()
        return shape
    finally:
        con.close()


def test_a_fresh_sqlite_archive_is_what_the_migrations_build(tmp_path: Path) -> None:
    # A new SQLite file is created from the table definitions (no Alembic at start); running every migration in
    # turn must give exactly that, so upgrades from here on start from the same place.
    fresh = tmp_path / "fresh.db"
    open_archive(f"sqlite:///{fresh}").close()
    migrated = tmp_path / "migrated.db"
    engine = sa.create_engine(f"sqlite:///{migrated}")
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "head")
    engine.dispose()
    assert _sqlite_shape(fresh) == _sqlite_shape(migrated)
    with closing(open_archive(f"sqlite:///{fresh}")) as archive:  # and it opens as an archive at head
        assert archive.create_run("r", "t", {}).id == 1
