"""What is specific to the SQL backend: URLs, connection failures, pragmas, storage format, tampering."""

from __future__ import annotations

import json
import threading
import zlib
from contextlib import closing
from pathlib import Path

import pytest
import sqlalchemy as sa

from godel.archive import SUPPORTED_SCHEMES, Archive, SQLArchive, normalise_url, open_archive, verify_chain
from godel.archive.testing import damage_sqlite_archive, make_candidate
from godel.candidate import Program, Status
from godel.errors import ArchiveError, UnknownRun

# -- URLs -----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["mysql://u@h/db", "oracle://x", "redis://localhost:6379"])
def test_unknown_scheme_names_the_supported_ones(url: str) -> None:
    with pytest.raises(ArchiveError, match="unsupported archive URL scheme") as info:
        open_archive(url)
    for scheme in SUPPORTED_SCHEMES:
        assert scheme in str(info.value)


def test_not_a_url() -> None:
    with pytest.raises(ArchiveError, match="not a database URL"):
        open_archive("just some words")


def test_relative_sqlite_path_is_relative_to_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with closing(open_archive("sqlite:///deep/er/archive.db")) as archive:
        assert archive.url == f"sqlite+pysqlite:///{tmp_path}/deep/er/archive.db"
        archive.create_run("r", "t", {})
    assert (tmp_path / "deep" / "er" / "archive.db").is_file()
    monkeypatch.chdir("/")
    with closing(open_archive(f"sqlite:///{tmp_path}/deep/er/archive.db")) as again:
        assert [r.name for r in again.runs()] == ["r"]


@pytest.mark.parametrize(
    ("given", "driver"),
    [
        ("postgresql://u:p@h:5/db", "postgresql+psycopg"),
        ("postgres://u:p@h/db", "postgresql+psycopg"),
        ("postgresql+psycopg://u@h/db", "postgresql+psycopg"),
    ],
)
def test_postgres_urls_use_psycopg3(given: str, driver: str) -> None:
    url, memory = normalise_url(given)
    assert url.drivername == driver and not memory


def test_sqlite_path_that_is_a_directory(tmp_path: Path) -> None:
    with pytest.raises(ArchiveError, match="is a directory"):
        open_archive(f"sqlite:///{tmp_path}")


def test_in_memory_sqlite_is_thread_safe() -> None:
    with closing(open_archive("sqlite://")) as archive:
        run = archive.create_run("mem", "t", {})

        def work(t: int) -> None:
            for k in range(20):
                archive.add_candidate(make_candidate(run.id, t * 20 + k))
                archive.add_event(run.id, "x", {"t": t})

        threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        assert archive.count(run.id) == 80
        assert verify_chain(archive.events(run.id)) == 80


def test_closed_archive_says_so(tmp_path: Path) -> None:
    archive = open_archive(f"sqlite:///{tmp_path}/a.db")
    archive.close()
    archive.close()  # idempotent
    with pytest.raises(ArchiveError, match="closed"):
        archive.runs()


# -- SQLite settings and storage ------------------------------------------------------------------------------------


def test_sqlite_pragmas(tmp_path: Path) -> None:
    archive = SQLArchive(f"sqlite:///{tmp_path}/a.db")
    try:
        with archive._engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30_000
    finally:
        archive.close()


def test_code_is_stored_compressed(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/a.db"
    code = "def f(x):\n    return x * 2\n" * 400
    with closing(open_archive(url)) as archive:
        run = archive.create_run("r", "t", {})
        cand = make_candidate(run.id, 0, code=code)
        cand.diff = "--- a\n+++ b\n"
        archive.add_candidate(cand)
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        blob, diff, digest = conn.execute(sa.text("SELECT code, diff, digest FROM candidates")).one()
    engine.dispose()
    assert len(blob) < len(code) / 10
    assert json.loads(zlib.decompress(blob)) == {"main.py": code}
    assert zlib.decompress(diff).decode() == "--- a\n+++ b\n"
    assert digest == Program.single("main.py", code).digest()


def test_batch_ids_follow_input_order_across_pages(tmp_path: Path) -> None:
    # More rows than one multi-row INSERT page, inserted out of iteration order.
    with closing(open_archive(f"sqlite:///{tmp_path}/a.db")) as archive:
        run = archive.create_run("r", "t", {})
        batch = [make_candidate(run.id, it) for it in reversed(range(2500))]
        ids = archive.add_candidates(batch)
        assert ids == sorted(ids, reverse=False) and len(set(ids)) == 2500
        for c in batch[::250]:
            assert archive.get_candidate(c.id or 0).iteration == c.iteration


def test_tampered_event_row_is_detected(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/a.db"
    with closing(open_archive(url)) as archive:
        run = archive.create_run("r", "t", {})
        for i in range(4):
            archive.add_event(run.id, "score", {"score": i})
        engine = sa.create_engine(url)
        with engine.begin() as conn:
            conn.execute(sa.text("UPDATE events SET payload = :p WHERE seq = 3"), {"p": '{"score":100}'})
        engine.dispose()
        with pytest.raises(ArchiveError, match="seq 3"):
            verify_chain(archive.events(run.id))


def test_failed_insert_leaves_no_trace(tmp_path: Path) -> None:
    with closing(open_archive(f"sqlite:///{tmp_path}/a.db")) as archive:
        run = archive.create_run("r", "t", {})
        bad = make_candidate(run.id, 0)
        bad.metrics = {"x": object()}  # type: ignore[dict-item]
        with pytest.raises(ArchiveError, match="metrics"):
            archive.add_candidate(bad)
        assert archive.count(run.id) == 0 and bad.id is None
        with pytest.raises(UnknownRun):
            archive.update_run(run.id + 1, status="stopped")


def test_archive_protocol_is_satisfied(tmp_path: Path) -> None:
    with closing(open_archive(f"sqlite:///{tmp_path}/a.db")) as archive:
        assert isinstance(archive, SQLArchive) and isinstance(archive, Archive)


# -- PostgreSQL connection failures ---------------------------------------------------------------------------------


def test_unreachable_postgres_server() -> None:
    # Nothing listens on port 1 of the loopback: refused at once.
    with pytest.raises(ArchiveError, match=r"cannot reach the PostgreSQL server at 127\.0\.0\.1:1") as info:
        open_archive("postgresql://postgres@127.0.0.1:1/godel")
    assert "scripts/services" in str(info.value)


@pytest.mark.postgres
def test_wrong_postgres_credentials(postgres_url: str) -> None:
    url = sa.make_url(postgres_url).set(username="no_such_user", password="secret-pw")
    with pytest.raises(ArchiveError, match="refused the credentials of user 'no_such_user'") as info:
        open_archive(url.render_as_string(hide_password=False))
    assert "secret-pw" not in str(info.value)


@pytest.mark.postgres
def test_missing_postgres_database(postgres_url: str) -> None:
    url = sa.make_url(postgres_url).set(database="godel_no_such_db")
    with pytest.raises(ArchiveError, match="does not exist") as info:
        open_archive(url.render_as_string(hide_password=False))
    assert "createdb" in str(info.value) and "godel_no_such_db" in str(info.value)


@pytest.mark.postgres
def test_postgres_rows_and_best(pg_schema_url: str) -> None:
    # The PostgreSQL-specific paths: FOR UPDATE event appends and RETURNING batches on a real server.
    with closing(open_archive(pg_schema_url)) as archive:
        run = archive.create_run("pg", "t", {})
        cands = [make_candidate(run.id, i, status=Status.OK, score=float(i % 7)) for i in range(300)]
        ids = archive.add_candidates(cands)
        assert [r.id for r in archive.rows(run.id)] == ids
        best = archive.best(run.id)
        assert best is not None and best.score == 6.0 and best.iteration == 6


# -- a damaged SQLite file ------------------------------------------------------------------------------------------


def test_damaged_file_is_refused_before_the_first_write_and_left_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "archive.db"
    damaged = damage_sqlite_archive(path)
    archive = open_archive(f"sqlite:///{path}")  # reading is still possible: what can be saved can be read
    try:
        assert [r.name for r in archive.runs()] == ["r"]
        with pytest.raises(ArchiveError, match="is damaged: PRAGMA quick_check") as info:
            archive.create_run("new", "t", {})
        message = str(info.value)
        assert str(path) in message and "wrote nothing" in message and "backup" in message
        assert "\n" not in message  # one line
        with pytest.raises(ArchiveError, match="is damaged"):
            archive.add_event(archive.runs()[0].id, "x", {})
        assert archive.check_storage(full=True) != []
        assert archive.check_storage(full=False) != []
    finally:
        archive.close()
    assert path.read_bytes() == damaged
    wal = path.with_name(path.name + "-wal")
    assert not wal.exists() or wal.stat().st_size == 0


def test_sound_file_passes_the_storage_checks(tmp_path: Path) -> None:
    with closing(open_archive(f"sqlite:///{tmp_path}/a.db")) as archive:
        run = archive.create_run("r", "t", {})
        archive.add_candidate(make_candidate(run.id, 0))
        assert archive.check_storage(full=True) == [] and archive.check_storage(full=False) == []


@pytest.mark.postgres
def test_postgres_storage_check(pg_schema_url: str) -> None:
    with closing(open_archive(pg_schema_url)) as archive:
        archive.create_run("r", "t", {})
        assert archive.check_storage() == []
