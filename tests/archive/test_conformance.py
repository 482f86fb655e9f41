"""The archive conformance suite against real SQLite files and a real PostgreSQL server."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest

from godel.archive import open_archive
from godel.archive.testing import ArchiveConformance, ArchiveFactory


class TestSQLiteFile(ArchiveConformance):
    @pytest.fixture
    def make_archive(self, tmp_path: Path) -> ArchiveFactory:
        return functools.partial(open_archive, f"sqlite:///{tmp_path}/archive.db")


@pytest.mark.postgres
class TestPostgreSQL(ArchiveConformance):
    @pytest.fixture
    def make_archive(self, pg_schema_url: str) -> ArchiveFactory:
        return functools.partial(open_archive, pg_schema_url)
