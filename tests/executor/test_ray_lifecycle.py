"""Cluster life cycle, each case in a fresh process since a process holds one Ray driver connection."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import ray  # noqa: F401  # a missing Ray must fail these tests, not skip them

from tests.helpers import ROOT

pytestmark = [pytest.mark.ray, pytest.mark.slow]


def _run(mode: str, tmp_path: Path) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-m", "tests.executor.lifecycle", mode, str(tmp_path / "task")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stderr[-3000:]
    result: dict[str, Any] = json.loads(lines[-1].removeprefix("RESULT "))
    return result


def test_close_stops_the_cluster_it_started(tmp_path: Path) -> None:
    res = _run("own", tmp_path)
    assert res["score"] == 1.5
    assert len(res["pids"]) >= 3  # the head command, Ray's daemons and at least one worker
    assert res["alive_after_close"] == []
    assert res["temp_dir_left"] is False


def test_a_cluster_that_goes_away_is_a_sandbox_error_naming_it(tmp_path: Path) -> None:
    res = _run("gone", tmp_path)
    assert res["score"] == 1.5
    raised = res["raised"]
    assert raised["type"] == "SandboxError", raised  # never a failed candidate, never a score
    assert res["address"] in raised["message"] and "candidate 3" in raised["message"]
    assert res["seconds"] < 30
    assert res["close_seconds"] < 30
