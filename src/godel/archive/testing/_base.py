"""What the archive conformance cases share: the fixtures, candidates to store, and a damaged SQLite file."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from godel.archive._base import Archive, RunInfo
from godel.archive._sql import SQLArchive
from godel.candidate import Candidate, Program, Status

__all__ = ["MISSING", "ArchiveFactory", "CasesBase", "damage_sqlite_archive", "make_candidate"]

ArchiveFactory = Callable[[], Archive]
MISSING = 987_654_321  # an id no test ever creates


def make_candidate(
    run_id: int,
    iteration: int,
    *,
    code: str | None = None,
    parent_id: int | None = None,
    generation: int = 0,
    status: Status = Status.PENDING,
    score: float | None = None,
    reason: str | None = None,
    flags: list[str] | None = None,
    verdict: dict[str, Any] | None = None,
) -> Candidate:
    if reason is None and status in (Status.FAILED, Status.REJECTED):
        reason = f"{status.value} in test"
    return Candidate(
        run_id=run_id,
        iteration=iteration,
        program=Program.single("main.py", code if code is not None else f"x = {iteration}\n"),
        parent_id=parent_id,
        generation=generation,
        status=status,
        score=score,
        reason=reason,
        flags=list(flags or []),
        verdict=dict(verdict or {}),
    )


def damage_sqlite_archive(path: Path) -> bytes:
    """Write a small archive at ``path`` and damage its file in the middle, so that SQLite's own integrity check
    fails while the file still opens (its schema pages are intact); returns the damaged bytes."""
    with closing(SQLArchive(f"sqlite:///{path}")) as archive:
        run = archive.create_run("r", "t", {})
        archive.add_candidates([make_candidate(run.id, i, code=f"x = {i}\n" * 50) for i in range(300)])
        for i in range(20):
            archive.add_event(run.id, "e", {"i": i})
    good = path.read_bytes()
    pages = len(good) // 4096
    for page in range(pages // 3, 2 * pages // 3):
        data = bytearray(good)
        # The header of a b-tree page: its type, cell count and content start.
        data[page * 4096 : page * 4096 + 16] = b"\xff" * 16
        path.write_bytes(bytes(data))
        con = sqlite3.connect(path)
        try:
            con.execute("SELECT version_num FROM alembic_version").fetchall()
        except sqlite3.DatabaseError:
            con.close()
            continue  # too damaged to open at all: another case
        try:
            intact = con.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        except sqlite3.DatabaseError:  # "database disk image is malformed": the check fails outright
            intact = False
        finally:
            con.close()
        if not intact:
            return bytes(data)
    raise AssertionError(f"no page in the middle of {path} could be damaged that way")


class CasesBase:
    """The fixtures every group of cases uses; subclasses provide ``make_archive``."""

    @pytest.fixture
    def make_archive(self) -> ArchiveFactory:
        raise NotImplementedError("subclasses provide a make_archive fixture")

    @pytest.fixture
    def archive(self, make_archive: ArchiveFactory) -> Iterator[Archive]:
        a = make_archive()
        try:
            yield a
        finally:
            a.close()

    @pytest.fixture
    def run(self, archive: Archive) -> RunInfo:
        return archive.create_run("run-a", "task-a", {"run": {"iterations": 10}, "seed": 1})
