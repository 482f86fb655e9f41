"""Several `godel worker` processes on one PostgreSQL archive: claims, heartbeats, recovery of a dead worker."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from godel.archive import open_archive
from godel.candidate import Status
from godel.guard import find_audit_key, verify_trail
from tests.helpers import ROOT, write_task

pytestmark = pytest.mark.postgres

PROGRAM = "# EVOLVE-BLOCK-START\nX = 1.0\nY = 2\n# EVOLVE-BLOCK-END\n"
EVALUATOR = """
import importlib.util, time

def evaluate(path):
    time.sleep({sleep})
    spec = importlib.util.spec_from_file_location("p", path)
    m = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(m)
    return {{"combined_score": -abs(m.X - 3.0) - abs(m.Y - 5)}}
"""


def _task(tmp_path: Path, sleep: float) -> Path:
    return write_task(
        tmp_path / "slowtask",
        {"initial_program.py": PROGRAM, "evaluator.py": EVALUATOR.format(sleep=sleep)},
    )


def _worker(task: Path, url: str, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "godel",
            "worker",
            str(task),
            "--storage",
            url,
            "--proposer",
            "mutate",
            "--parallel",
            "1",
            "--json",
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def _check_run(url: str, iterations: int) -> dict[int, int]:
    """Integrity of a finished run; returns evaluations per candidate id."""
    archive = open_archive(url)
    try:
        run = archive.latest_run()
        assert run is not None
        cands = archive.candidates(run.id)
        assert [c.iteration for c in cands] == list(range(iterations + 1))
        ids = {c.id for c in cands}
        for c in cands:
            assert c.status.terminal, (c.id, c.status)
            assert (c.score is None) == (c.status != Status.OK)
            assert c.iteration == 0 or c.parent_id in ids
        # The whole trail: chains, the checkpoints the workers signed, and every row against its events.
        report = verify_trail(archive, [find_audit_key().public], run.id)  # type: ignore[union-attr]
        assert report.ok, report
        evaluations = Counter(
            e.payload["candidate"] for e in archive.events(run.id) if e.kind == "evaluation"
        )
        return dict(evaluations)
    finally:
        archive.close()


def test_two_workers_share_one_run(tmp_path: Path, pg_schema_url: str) -> None:
    task = _task(tmp_path, 0.05)
    a = _worker(task, pg_schema_url, "--iterations", "16", "--id", "a")
    time.sleep(0.5)  # a creates the run and its seed; b joins it
    b = _worker(task, pg_schema_url, "--iterations", "16", "--id", "b")
    outs = [p.communicate(timeout=300) for p in (a, b)]
    for p, (out, err) in zip((a, b), outs, strict=True):
        assert p.returncode == 0, err
        assert json.loads(out)["run_name"] == "slowtask"
    evaluations = _check_run(pg_schema_url, 16)
    assert all(n == 1 for n in evaluations.values()), evaluations
    archive = open_archive(pg_schema_url)
    run = archive.latest_run()
    assert run is not None
    workers = {e.payload["worker"] for e in archive.events(run.id) if e.kind == "worker_start"}
    archive.close()
    assert workers == {"a", "b"}


def test_killed_worker_claim_is_recovered(tmp_path: Path, pg_schema_url: str) -> None:
    task = _task(tmp_path, 0.6)
    victim = _worker(task, pg_schema_url, "--iterations", "8", "--id", "victim")
    archive = open_archive(pg_schema_url)
    deadline = time.monotonic() + 120
    held = None
    while time.monotonic() < deadline and held is None:
        run = archive.latest_run()
        if run is not None:
            pending = [c for c in archive.candidates(run.id, status=Status.PENDING) if c.iteration >= 2]
            held = pending[0] if pending else None
        time.sleep(0.05)
    assert held is not None and held.id is not None, "the victim never held a pending candidate"
    os.killpg(victim.pid, signal.SIGKILL)
    victim.wait()
    assert archive.get_candidate(held.id).status == Status.PENDING  # lost with the worker, still stored
    archive.close()
    rescuer = _worker(task, pg_schema_url, "--iterations", "8", "--id", "rescuer", "--stale-after", "1.5")
    _out, err = rescuer.communicate(timeout=300)
    assert rescuer.returncode == 0, err
    evaluations = _check_run(pg_schema_url, 8)
    assert evaluations.get(held.id) == 1
    assert all(n == 1 for n in evaluations.values()), evaluations
    archive = open_archive(pg_schema_url)
    run = archive.latest_run()
    assert run is not None
    reclaims = [e for e in archive.events(run.id) if e.kind == "reclaim"]
    archive.close()
    assert any(e.payload["candidate"] == held.id and e.payload["worker"] == "rescuer" for e in reclaims)


@pytest.mark.slow
def test_worker_waits_out_a_database_outage(tmp_path: Path) -> None:
    """A PostgreSQL server of its own is stopped mid-run and started again: the worker retries with backoff and
    finishes the run; nothing stored is lost."""
    env = {**os.environ, "GODEL_PG_PORT": "54339", "GODEL_PG_STATE": str(tmp_path / "pg")}
    services = [str(ROOT / "scripts" / "services")]
    start = subprocess.run(services, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert start.returncode == 0, start.stderr
    url = start.stdout.strip().splitlines()[-1]
    try:
        task = _task(tmp_path, 0.3)
        proc = _worker(task, url, "--iterations", "10", "--id", "patient")
        archive = open_archive(url)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            run = archive.latest_run()
            if run is not None and archive.count(run.id, Status.OK) >= 3:
                break
            time.sleep(0.1)
        archive.close()
        stop = subprocess.run([*services, "stop"], env=env, capture_output=True, text=True, timeout=120)
        assert stop.returncode == 0, stop.stderr
        time.sleep(2.0)
        again = subprocess.run(services, env=env, capture_output=True, text=True, timeout=600, check=False)
        assert again.returncode == 0, again.stderr
        _out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        assert "archive unreachable" in err
        evaluations = _check_run(url, 10)
        assert all(n == 1 for n in evaluations.values()), evaluations
    finally:
        subprocess.run([*services, "stop"], env=env, capture_output=True, text=True, timeout=120, check=False)
