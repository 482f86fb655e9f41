"""``quick_status``, the SQLAlchemy-free read behind ``godel status --json``, gives the document the full archive
gives, and steps aside (None) wherever it could not."""

from __future__ import annotations

import json
import sqlite3
import sys
from pathlib import Path

import pytest

import godel.archive
from godel.archive import SQLArchive, quick_status
from godel.archive.testing import make_candidate
from godel.candidate import Status


def _archive(path: Path) -> str:
    url = f"sqlite:///{path}"
    with SQLArchive(url) as a:
        first = a.create_run("first", "task-a", {})
        a.add_candidates([make_candidate(first.id, 0, status=Status.OK, score=0.5)])
        run = a.create_run("second", "task-b", {}, meta={"noise": {"sigma": 0.01}})
        cands = [make_candidate(run.id, 0, status=Status.OK, score=0.25)]
        for i in range(1, 40):
            status = (Status.OK, Status.FAILED, Status.REJECTED, Status.PENDING)[i % 4]
            score = i / 100 if status is Status.OK else None
            flags = ["suspicious"] if i == 36 else None  # the highest score, flagged: never the best
            cands.append(make_candidate(run.id, i, status=status, score=score, parent_id=None, flags=flags))
        ids = a.add_candidates(cands)
        for c, cid in zip(cands, ids, strict=True):
            if c.flags:
                c.id = cid
                c.flagged = True
                a.update_candidate(c)
        a.update_run(run.id, meta={"best": {"id": ids[12], "score": 0.12}})
    return url


def _full(
    url: str, run: str | None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> object:
    """What `godel status --json` prints through the full archive."""
    from godel.cli import main

    monkeypatch.setattr(godel.archive, "quick_status", lambda *_: None)
    monkeypatch.setattr(
        sys, "argv", ["godel", "status", "--json", "--storage", url, *(["--run", run] if run else [])]
    )
    with pytest.raises(SystemExit) as exit_:
        main()
    assert exit_.value.code == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("run", [None, "first", "1", "second"])
def test_the_quick_document_is_the_full_one(
    tmp_path: Path, run: str | None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = _archive(tmp_path / "a.db")
    quick = quick_status(url, run)
    assert quick is not None
    full = _full(url, run, monkeypatch, capsys)
    assert json.loads(json.dumps(quick)) == full
    if run in (None, "second"):
        assert quick["best"]["iteration"] == 12 and len(quick["recent_failures"]) == 5


def test_it_steps_aside_where_it_cannot_answer(tmp_path: Path) -> None:
    url = _archive(tmp_path / "a.db")
    assert quick_status(url, "no-such-run") is None  # the full path words the error
    assert quick_status(url, "99") is None
    assert quick_status(f"sqlite:///{tmp_path}/missing.db", None) is None
    assert quick_status("sqlite://", None) is None
    assert quick_status("postgresql://u@127.0.0.1/x", None) is None
    con = sqlite3.connect(tmp_path / "a.db")
    con.execute("UPDATE alembic_version SET version_num = '0003'")
    con.commit()
    con.close()
    assert quick_status(url, None) is None  # an older schema: the archive upgrades it first
