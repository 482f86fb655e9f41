"""Fixtures over one real run's archive, shared by the dashboard and telemetry tests (imported by their conftest)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.dashboard.builder import build_run_archive


@pytest.fixture(scope="session")
def run_archive(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, int]:
    """A real run (engine, local mutations, subprocess sandbox) plus one supervised and one flagged candidate.

    Session-scoped and treated as read-only; tests that change it copy it first (see ``fresh_archive``)."""
    return build_run_archive(tmp_path_factory.mktemp("run"))


@pytest.fixture
def fresh_archive(run_archive: tuple[str, int], tmp_path: Path) -> tuple[str, int]:
    """A private copy of the run archive, for tests that approve or reject."""
    import sqlite3

    src = sqlite3.connect(run_archive[0].removeprefix("sqlite:///"))
    dst = sqlite3.connect(tmp_path / "copy.db")
    src.backup(dst)
    src.close()
    dst.close()
    return f"sqlite:///{tmp_path}/copy.db", run_archive[1]
