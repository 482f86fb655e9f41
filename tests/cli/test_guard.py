"""The guard's commands mounted on a Typer app, against a real SQLite archive."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from godel.archive import Archive, open_archive
from godel.archive.testing import damage_sqlite_archive
from godel.candidate import Candidate, Program, Status
from godel.cli._guard import register
from godel.cli._read import archive_doctor
from godel.guard import AuditKeyCreated, checkpoint, load_audit_key


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


# -- the real `godel` executable: exit codes of the audit commands ------------------------------------------------

GODEL = str(Path(sys.executable).with_name("godel"))


def _godel(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([GODEL, *args], capture_output=True, text=True, timeout=300, env=env)


def _machine(root: Path, *, key: bool) -> dict[str, str]:
    """The environment of a machine: its own config dir; with the audit key file, or with none at all."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GODEL_AUDIT_KEY")}
    env["XDG_CONFIG_HOME"] = str(root / "config")
    if key:
        env["GODEL_AUDIT_KEY_FILE"] = str(root / "keys" / "audit-key.pem")
    return env


def _signed_archive(db: Path, env: dict[str, str]) -> int:
    key = load_audit_key(env=env) if Path(env["GODEL_AUDIT_KEY_FILE"]).exists() else None
    if key is None:
        with pytest.warns(AuditKeyCreated):
            key = load_audit_key(env=env)
    rid, _ = _fill(db)
    a = open_archive(f"sqlite:///{db}")
    try:
        assert checkpoint(a, rid, key) is not None
    finally:
        a.close()
    return rid


@pytest.mark.slow
def test_audit_exit_codes_of_the_installed_command(tmp_path: Path) -> None:
    here = _machine(tmp_path / "here", key=True)
    db = tmp_path / "g.db"
    rid = _signed_archive(db, here)
    url = f"sqlite:///{db}"
    res = _godel("audit", "verify", "--storage", url, env=here)
    assert res.returncode == 0 and "intact" in res.stdout, res.stderr
    pub, log = tmp_path / "audit-key.pub", tmp_path / "trail.jsonl"
    assert _godel("audit", "key", "--public", "--out", str(pub), env=here).returncode == 0
    assert _godel("audit", "export", "--storage", url, "--out", str(log), env=here).returncode == 0

    # Another machine: no private key, only the public one.
    there = _machine(tmp_path / "there", key=False)
    res = _godel("audit", "verify", "--log", str(log), "--public-key", str(pub), env=there)
    assert res.returncode == 0 and "intact" in res.stdout, res.stdout + res.stderr
    res = _godel("audit", "verify", "--log", str(log), env=there)
    assert res.returncode == 2 and "no key to check" in res.stderr and "--public-key" in res.stderr
    assert not (tmp_path / "there" / "config" / "godel").exists()  # verifying never creates a key
    lines = log.read_text().splitlines()
    log.write_text(
        "\n".join(ln for ln in lines if '"kind": "approval"' not in ln and '"kind": "verdict"' not in ln)
    )
    res = _godel("audit", "verify", "--log", str(log), "--public-key", str(pub), "--json", env=there)
    assert res.returncode == 3 and json.loads(res.stdout)["ok"] is False

    # The case: `godel best` believes an edited score; the audit does not.
    con = sqlite3.connect(db)
    con.execute("UPDATE candidates SET score = 0.99 WHERE run_id = ? AND iteration = 0", (rid,))
    con.commit()
    con.close()
    best = _godel("best", "--storage", url, "--json", env=here)
    assert best.returncode == 0 and json.loads(best.stdout)["score"] == 0.99
    res = _godel("audit", "verify", "--storage", url, env=here)
    assert (
        res.returncode == 3
        and "BROKEN" in res.stdout
        and "score 0.99" in res.stdout
        and "score 0.1" in res.stdout
    )


@pytest.mark.slow
def test_an_evolved_run_signed_at_its_end_then_edited(tmp_path: Path) -> None:
    env = _machine(tmp_path, key=True)
    task, url = tmp_path / "task", f"sqlite:///{tmp_path}/run.db"
    assert _godel("init", str(task), env=env).returncode == 0
    fast = ["--proposer", "mutate", "--allow-unsafe", "--set", "guard.enabled=false"]
    res = _godel("evolve", str(task), "--iterations", "6", "--storage", url, *fast, "--json", env=env)
    # The run signs its own trail at its end, making the machine's key the first time.
    assert res.returncode == 0 and "created a new audit signing key" in res.stderr, res.stderr
    res = _godel("audit", "checkpoint", "--storage", url, env=env)
    assert res.returncode == 0 and "signed" in res.stdout and "created a new" not in res.stderr
    res = _godel("audit", "verify", "--storage", url, env=env)
    assert res.returncode == 0, res.stdout + res.stderr
    con = sqlite3.connect(tmp_path / "run.db")
    con.execute(
        "UPDATE candidates SET score = 0.99 WHERE id = (SELECT max(id) FROM candidates WHERE status = 'ok')"
    )
    con.commit()
    con.close()
    res = _godel("audit", "verify", "--storage", url, "--json", env=env)
    assert res.returncode == 3 and {p["kind"] for p in json.loads(res.stdout)["problems"]} == {"row"}


@pytest.mark.slow
def test_evolve_refuses_a_damaged_archive_and_changes_nothing(tmp_path: Path) -> None:
    env = _machine(tmp_path, key=True)
    db = tmp_path / "damaged.db"
    damaged = damage_sqlite_archive(db)
    task = tmp_path / "task"
    assert _godel("init", str(task), env=env).returncode == 0
    fast = ["--proposer", "mutate", "--allow-unsafe", "--set", "guard.enabled=false"]
    res = _godel("evolve", str(task), "--iterations", "2", "--storage", f"sqlite:///{db}", *fast, env=env)
    assert res.returncode == 2, res.stdout + res.stderr
    errors = [ln for ln in res.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and str(db) in errors[0] and "damaged" in errors[0] and "backup" in errors[0]
    assert db.read_bytes() == damaged


def _doctor_app() -> typer.Typer:
    """`godel doctor --archive` as the doctor command will call it."""
    app = typer.Typer()

    @app.command()
    def doctor(archive: str, as_json: bool = typer.Option(False, "--json")) -> None:
        archive_doctor(archive, as_json=as_json)

    return app


def test_archive_doctor_runs_the_full_check(tmp_path: Path) -> None:
    db = tmp_path / "g.db"
    rid = _signed_archive(db, dict(os.environ))
    runner = CliRunner()
    res = runner.invoke(_doctor_app(), [f"sqlite:///{db}"])
    assert res.exit_code == 0 and "intact" in res.output, res.output
    con = sqlite3.connect(db)
    con.execute(
        "UPDATE candidates SET status = 'failed', reason = 'x', score = NULL WHERE run_id = ?", (rid,)
    )
    con.commit()
    con.close()
    res = runner.invoke(_doctor_app(), [f"sqlite:///{db}", "--json"])
    assert res.exit_code == 3 and {p["kind"] for p in json.loads(res.output)["problems"]} == {"row"}
    damaged = tmp_path / "damaged.db"
    damage_sqlite_archive(damaged)
    res = runner.invoke(_doctor_app(), [f"sqlite:///{damaged}", "--json"])
    doc = json.loads(res.output)
    assert res.exit_code == 3 and doc["storage"] and not doc["ok"]
