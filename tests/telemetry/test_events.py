"""The event stream: paging, the newest event, `godel events` (NDJSON, --follow across processes), bad input."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from godel.archive import open_archive, verify_chain
from godel.cli._events import register
from godel.errors import ArchiveError, UnknownRun
from godel.telemetry import event_line, iter_events, last_event
from tests.dashboard.builder import CLI, SECRET
from tests.helpers import ROOT


def _app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def _root() -> None:
        pass

    register(app, lambda s: open_archive(s or "sqlite://"))
    return app


@pytest.mark.parametrize("n", [0, 1, 2, 3, 7, 64, 65])
def test_last_event_and_paging(n: int) -> None:
    archive = open_archive("sqlite://")
    run = archive.create_run("r", "t", {})
    for i in range(n):
        archive.add_event(run.id, "tick", {"i": i})
    ev = last_event(archive, run.id)
    assert (ev.seq if ev else 0) == n
    for hint in range(n + 1):
        got = last_event(archive, run.id, hint=hint)
        assert (got.seq if got else 0) == n
    assert [e.seq for e in iter_events(archive, run.id, page=5)] == list(range(1, n + 1))
    assert [e.seq for e in iter_events(archive, run.id, since_seq=min(n, 3), page=2)] == list(
        range(min(n, 3) + 1, n + 1)
    )
    archive.close()


@pytest.mark.slow
def test_events_json_is_the_hash_chain_with_secrets_masked(run_archive: tuple[str, int]) -> None:
    url, run_id = run_archive
    result = CliRunner().invoke(_app(), ["events", "--storage", url, "--run", str(run_id), "--json"])
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.stdout.splitlines()]
    archive = open_archive(url)
    stored = archive.events(run_id)
    verify_chain(stored)
    assert [r["seq"] for r in records] == [e.seq for e in stored]
    assert [r["hash"] for r in records] == [e.hash for e in stored]
    kinds = {r["kind"] for r in records}
    assert {"proposal", "evaluation", "run_end"} <= kinds
    # Human lines: one per event, the kind visible.
    human = CliRunner().invoke(_app(), ["events", "--storage", url])
    assert human.exit_code == 0
    assert len(human.stdout.splitlines()) == len(stored)
    assert "evaluation" in human.stdout
    # A secret in a payload never reaches the output.
    archive.add_event(run_id, "warning", {"message": f"leaked {SECRET}"})
    archive.close()
    out = CliRunner().invoke(_app(), ["events", "--storage", url, "--json", "--since", str(stored[-1].seq)])
    assert SECRET not in out.stdout and "leaked" in out.stdout
    assert SECRET not in event_line(open_archive(url).events(run_id)[-1])


def test_unknown_run_and_empty_archive() -> None:
    result = CliRunner().invoke(_app(), ["events", "--run", "nope"])
    assert isinstance(result.exception, ArchiveError)  # the empty in-memory archive has no runs
    runner = CliRunner()
    url = "sqlite://"
    assert isinstance(
        runner.invoke(_app(), ["events", "--storage", url, "--run", "7"]).exception, UnknownRun | ArchiveError
    )
    bad = runner.invoke(_app(), ["events", "--interval", "0"])
    assert bad.exception is not None and "interval" in str(bad.exception)


@pytest.mark.slow
def test_follow_prints_events_another_process_appends(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/live.db"
    archive = open_archive(url)
    run = archive.create_run("live", "t", {})
    archive.add_event(run.id, "proposal", {"candidate": 1})
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            CLI,
            "events",
            "--storage",
            url,
            "--follow",
            "--json",
            "--until-end",
            "--interval",
            "0.1",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        assert proc.stdout is not None
        first = json.loads(proc.stdout.readline())
        assert first["kind"] == "proposal" and first["seq"] == 1
        time.sleep(0.3)
        archive.add_event(run.id, "evaluation", {"candidate": 1, "score": 1.5})
        archive.add_event(run.id, "run_end", {"stopped": "iterations"})
        rest = [json.loads(line) for line in proc.stdout]
        assert [r["kind"] for r in rest] == ["evaluation", "run_end"]
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        archive.close()


@pytest.mark.slow
def test_cli_exit_codes_for_bad_input(tmp_path: Path) -> None:
    missing = subprocess.run(
        [sys.executable, "-c", CLI, "events", "--storage", f"sqlite:///{tmp_path}/none.db"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert missing.returncode == 2 and "no archive" in missing.stderr
    corrupt = tmp_path / "corrupt.db"
    corrupt.write_bytes(b"this is not a database" * 100)
    bad = subprocess.run(
        [sys.executable, "-c", CLI, "events", "--storage", f"sqlite:///{corrupt}"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert bad.returncode == 2 and "error:" in bad.stderr and "Traceback" not in bad.stderr
