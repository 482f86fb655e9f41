"""Shared fixtures: task folders, and a real PostgreSQL server (scripts/services) with per-test schemas."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.helpers import ROOT, write_task


@pytest.fixture(scope="session", autouse=True)
def audit_key(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Runs sign their audit trail: the tests' runs (and the processes they start) sign with a key of their own,
    never the user's ~/.config/godel/audit-key.pem."""
    path = tmp_path_factory.mktemp("audit") / "audit-key.pem"
    old = os.environ.get("GODEL_AUDIT_KEY_FILE")
    os.environ["GODEL_AUDIT_KEY_FILE"] = str(path)
    yield path
    if old is None:
        os.environ.pop("GODEL_AUDIT_KEY_FILE", None)
    else:
        os.environ["GODEL_AUDIT_KEY_FILE"] = old


@pytest.fixture
def make_task(tmp_path: Path) -> Callable[[dict[str, str]], Path]:
    """Write a task folder: relative file name -> content."""
    counter = iter(range(1_000_000))

    def make(files: dict[str, str]) -> Path:
        return write_task(tmp_path / f"task{next(counter)}", files)

    return make


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """The server from GODEL_TEST_POSTGRES_URL, else the one scripts/services starts (installing it if needed).

    Never skips: if no server can be had, every PostgreSQL test fails with the reason.
    """
    url = os.environ.get("GODEL_TEST_POSTGRES_URL")
    if not url:
        try:
            proc = subprocess.run(
                ["bash", str(ROOT / "scripts" / "services")],
                capture_output=True,
                text=True,
                timeout=900,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            pytest.fail(f"could not run scripts/services to start PostgreSQL: {exc}")
        if proc.returncode != 0:
            pytest.fail(
                f"scripts/services failed (exit {proc.returncode}); PostgreSQL tests cannot run:\n"
                f"{proc.stderr[-3000:]}"
            )
        lines = proc.stdout.strip().splitlines()
        if not lines:
            pytest.fail(f"scripts/services printed no URL:\n{proc.stderr[-3000:]}")
        url = lines[-1]
    engine = sa.create_engine(sa.make_url(url).set(drivername="postgresql+psycopg"))
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except sa.exc.SQLAlchemyError as exc:
        pytest.fail(f"PostgreSQL at {url} does not answer: {exc}")
    finally:
        engine.dispose()
    return url


@pytest.fixture
def pg_schema_url(postgres_url: str) -> Iterator[str]:
    """A URL whose search_path is a fresh schema, dropped after the test: isolation without a database per test."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    base = sa.make_url(postgres_url).set(drivername="postgresql+psycopg")
    engine = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    url = base.update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with engine.connect() as conn:
            # Sessions of the test (and of processes it started) may still hold locks briefly.
            conn.execute(sa.text("SET lock_timeout = '30s'"))
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()
