"""The guard's commands mounted on a Typer app, against a real SQLite archive."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from godel.archive import Archive, open_archive
from godel.candidate import Candidate, Program, Status
from godel.cli._guard import register


def _app(db: Path) -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def _root() -> None:
        """test app"""

    def opener(storage: str | None) -> Archive:
        return open_archive(storage or f"sqlite:///{db}")

    register(app, opener)
    return app


def _fill(db: Path) -> tuple[int, int]:
    """A run as the engine writes it: an evaluated seed and a supervised child waiting for a human."""
    a = open_archive(f"sqlite:///{db}")
    run = a.create_run("r", "t", {})
    seed = Candidate(
        run_id=run.id, iteration=0, program=Program.single("p.py", "x=1\n"), status=Status.OK, score=0.1
    )
    a.add_candidate(seed)
    a.add_event(run.id, "proposal", {"candidate": seed.id, "iteration": 0, "digest": seed.code_digest})
    a.add_event(run.id, "evaluation", {"candidate": seed.id, "status": "ok", "score": 0.1, "flags": []})
    cid = a.add_candidate(
        Candidate(
            run_id=run.id, iteration=1, program=Program.single("p.py", "x=2\n"), status=Status.AWAITING_APPROVAL,
            verdict={"reasons": ["[file-writes] opens a file for writing; token sk-abcdefghijklmnopqrstuvwx"]},
            diff="-x=1\n+x=2\n",
        )
    )  # fmt: skip
    a.add_event(run.id, "verdict", {"candidate": cid, "decision": "require_approval"})
    a.update_run(run.id, status="finished")
    a.close()
    return run.id, cid


@pytest.fixture(autouse=True)
def _audit_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """This machine's audit key lives in the test's directory, never in the real ~/.config."""
    path = tmp_path / "keys" / "audit-key.pem"
    monkeypatch.delenv("GODEL_AUDIT_KEY", raising=False)
    monkeypatch.setenv("GODEL_AUDIT_KEY_FILE", str(path))
    return path


def test_review_approve_reject_audit(tmp_path: Path) -> None:
    db = tmp_path / "g.db"
    _, cid = _fill(db)
    app, runner = _app(db), CliRunner()
    res = runner.invoke(app, ["review", "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    assert [q["id"] for q in doc["queue"]] == [cid]
    assert "sk-abcdefghijklmnop" not in res.output  # redacted
    res = runner.invoke(app, ["review"])
    assert "+x=2" in res.output and "godel approve ID" in res.output
    res = runner.invoke(app, ["reject", str(cid)])
    assert res.exit_code != 0  # --why is required
    res = runner.invoke(app, ["approve", str(cid), "--actor", "human:carol", "--json"])
    assert res.exit_code == 0 and json.loads(res.stdout)["decision"] == "approved"
    assert "created a new audit signing key" in res.stderr  # the approval was signed with a key made for it
    res = runner.invoke(app, ["audit", "verify", "--json"])
    assert res.exit_code == 0 and json.loads(res.output)["ok"] is True
    out = tmp_path / "audit.jsonl"
    res = runner.invoke(app, ["audit", "export", "--out", str(out)])
    # the run's header, its 4 events (proposal, evaluation, verdict, approval) and the approval's checkpoint
    assert res.exit_code == 0 and len(out.read_text().splitlines()) == 6
    assert runner.invoke(app, ["audit", "verify", "--file", str(out)]).exit_code == 0

    con = sqlite3.connect(db)
    con.execute("UPDATE events SET actor = 'mallory' WHERE seq = 1")
    con.commit()
    con.close()
    res = runner.invoke(app, ["audit", "verify"])
    assert res.exit_code == 3 and "BROKEN" in res.output and "seq 1" in res.output


def test_constitution_commands(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    app, runner = _app(tmp_path / "g.db"), CliRunner()
    res = runner.invoke(app, ["constitution", "check", "--json"])
    assert res.exit_code == 0 and json.loads(res.output)["name"] == "godel-default"
    path = tmp_path / "c.yaml"
    path.write_text("name: mine\n")
    monkeypatch.setenv("GODEL_CONSTITUTION_KEY", "s3cret")
    assert runner.invoke(app, ["constitution", "sign", str(path)]).exit_code == 0
    assert (tmp_path / "c.yaml.sig").exists()
    res = runner.invoke(app, ["constitution", "check", str(path), "--json"])
    assert res.exit_code == 0 and json.loads(res.output)["signed"] is True
