"""A warm start through the real command: the source run's best tiers are re-evaluated as the new run's first
proposals, recorded in its meta, shown by status, and replayed by --resume."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from godel.archive import open_archive
from godel.candidate import Status

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "function_minimization"


def _godel(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "godel", *args], capture_output=True, text=True, check=False)


@pytest.mark.slow
def test_warm_start_reevaluates_the_best_tiers_first(tmp_path: Path) -> None:
    task = tmp_path / "fm"
    shutil.copytree(EXAMPLE, task)
    url = f"sqlite:///{tmp_path}/w.db"
    fast = ["--proposer", "mutate", "--allow-unsafe", "--storage", url]
    assert (
        _godel("evolve", str(task), "--iterations", "12", "--seed", "1", "--name", "first", *fast).returncode
        == 0
    )
    res = _godel(
        "evolve",
        str(task),
        "--iterations",
        "8",
        "--seed",
        "2",
        "--name",
        "second",
        "--warm-start",
        "first",
        "--warm-size",
        "2",
        *fast,
    )
    assert res.returncode == 0, res.stderr
    assert "warm start from run first: 2 candidate(s)" in res.stderr
    archive = open_archive(url)
    try:
        first, second = archive.get_run("first"), archive.get_run("second")
        warm = second.meta["warm_start"]
        assert (
            warm["run"] == first.id
            and len(warm["candidates"]) == 2
            and warm["tiers"] == ["EXCELLENT", "GOOD"]
        )
        source = [archive.get_candidate(c) for c in warm["candidates"]]
        ranked = sorted(
            (c.score or 0.0 for c in archive.candidates(first.id, status=Status.OK)), reverse=True
        )
        assert source[0].score == ranked[0]
        mine = archive.candidates(second.id)
        for cand, src in zip(mine[1:3], source, strict=True):
            assert cand.proposer == "warm-start" and cand.program == src.program
            assert cand.parent_id == mine[0].id and f"candidate {src.id} of run first" in (cand.edit or "")
            # evaluated afresh in the new run, not copied
            assert cand.status == Status.OK and cand.id != src.id and cand.score == src.score
        assert all(c.proposer != "warm-start" for c in mine[3:])
    finally:
        archive.close()
    status = json.loads(_godel("status", "--storage", url, "--run", "second", "--tiers", "--json").stdout)
    assert status["warm_start"]["run_name"] == "first" and sum(status["tiers"].values()) >= 1
    bad = _godel("evolve", str(task), "--warm-start", "nope", *fast)
    assert bad.returncode == 2 and "no such run" in bad.stderr and "Traceback" not in bad.stderr
    bad = _godel("evolve", str(task), "--warm-start", "first", "--warm-tiers", "BEST", *fast)
    assert bad.returncode == 2 and "unknown tier BEST" in bad.stderr
