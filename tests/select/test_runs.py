"""Islands and MAP-Elites drive real runs: ``godel evolve`` builds them from the configuration (MAP-Elites reading its
descriptors from the run's archive), and a resumed run picks what an uninterrupted one picks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from godel.archive import open_archive
from tests.helpers import EXAMPLES

pytestmark = pytest.mark.slow

TASK = EXAMPLES / "function_minimization"
ARGS = ["--proposer", "mutate", "--seed", "3", "--set", "guard.enabled=false"]


def _evolve(url: str, *extra: str) -> Any:
    proc = subprocess.run(
        [sys.executable, "-m", "godel", "evolve", str(TASK), "--storage", url, *ARGS, *extra, "--json"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def _lineage(url: str) -> list[tuple[int, int | None, str]]:
    archive = open_archive(url)
    try:
        run = archive.runs()[0]
        return [(c.iteration, c.parent_id, c.code_digest) for c in archive.candidates(run.id)]
    finally:
        archive.close()


@pytest.mark.parametrize("name", ["islands", "map-elites"])
def test_a_resumed_run_equals_an_uninterrupted_one(name: str, tmp_path: Path) -> None:
    whole = f"sqlite:///{tmp_path}/whole.db"
    parts = f"sqlite:///{tmp_path}/parts.db"
    selector = ["--selector", name, "--parallel", "1"]
    done = _evolve(whole, *selector, "--iterations", "16")
    assert done["candidates"] == 16 and done["best_score"] >= done["seed_score"]
    _evolve(parts, *selector, "--iterations", "8")
    _evolve(parts, *selector, "--iterations", "16", "--resume")
    assert _lineage(parts) == _lineage(whole)
