"""`godel dashboard` bad input: a port in use, approvals without a token, a missing archive (real processes)."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from godel.cli._dashboard import check_port
from godel.telemetry import ServeError
from tests.dashboard.builder import CLI
from tests.helpers import ROOT

# Real `godel dashboard` processes binding real ports.
pytestmark = pytest.mark.slow


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", CLI, *args], capture_output=True, text=True, cwd=ROOT, timeout=60
    )


def test_port_in_use(run_archive: tuple[str, int]) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        r = _run("dashboard", "--storage", run_archive[0], "--port", str(port))
        assert (
            r.returncode == 2
            and f"cannot listen on 127.0.0.1:{port}" in r.stderr
            and "another --port" in r.stderr
        )
        with pytest.raises(ServeError):
            check_port("127.0.0.1", port)
    with pytest.raises(ServeError, match="out of range"):
        check_port("127.0.0.1", 70000)


def test_refusals(run_archive: tuple[str, int], tmp_path: Path) -> None:
    r = _run("dashboard", "--storage", run_archive[0], "--allow-approve")
    assert r.returncode == 2 and "needs a token" in r.stderr
    r = _run("dashboard", "--storage", run_archive[0], "--allow-approve", "--token", "short")
    assert r.returncode == 2 and "too short" in r.stderr
    r = _run("dashboard", "--storage", f"sqlite:///{tmp_path}/missing.db", "--port", "0")
    assert r.returncode == 2 and "no archive" in r.stderr
