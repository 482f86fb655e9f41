"""An OpenEvolve-style task folder (initial_program.py + evaluator.py, no godel.toml) runs unchanged."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from godel.archive import open_archive
from tests.helpers import write_task

PROGRAM = '''"""A random search in the OpenEvolve layout."""
import numpy as np


# EVOLVE-BLOCK-START
def search(iterations=200, bounds=(-4.0, 4.0)):
    rng = np.random.default_rng(0)
    best, best_v = None, float("inf")
    for _ in range(iterations):
        x = rng.uniform(bounds[0], bounds[1], size=2)
        v = objective(x)
        if v < best_v:
            best, best_v = x, v
    return best, best_v
# EVOLVE-BLOCK-END


def objective(x):
    return float(np.sum((x - 1.5) ** 2))


def run_search():
    x, v = search()
    return float(x[0]), float(x[1]), v
'''

# Written the way OpenEvolve's examples are: numpy, a thread-pool timeout, a two-stage cascade whose first stage
# has no combined_score, and {"error": ...} dicts instead of exceptions.
EVALUATOR = """
import concurrent.futures
import importlib.util
import numpy as np


def _timed(fn, seconds=5):
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(fn).result(timeout=seconds)


def _load(path):
    spec = importlib.util.spec_from_file_location("program", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def evaluate_stage1(program_path):
    try:
        program = _load(program_path)
        x, y, v = _timed(program.run_search)
    except Exception as exc:
        return {"runs_successfully": 0.0, "error": str(exc)}
    return {"runs_successfully": 1.0, "value_score": float(1.0 / (1.0 + v))}


def evaluate(program_path):
    try:
        program = _load(program_path)
        values = [_timed(program.run_search)[2] for _ in range(3)]
    except Exception as exc:
        return {"combined_score": 0.0, "error": str(exc)}
    score = float(np.mean([1.0 / (1.0 + v) for v in values]))
    return {"combined_score": score, "value_score": score}


def evaluate_stage2(program_path):
    return evaluate(program_path)
"""


@pytest.mark.slow
def test_openevolve_folder_runs_unchanged(tmp_path: Path) -> None:
    task = write_task(tmp_path / "oe_task", {"initial_program.py": PROGRAM, "evaluator.py": EVALUATOR})
    url = f"sqlite:///{tmp_path}/oe.db"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "godel",
            "evolve",
            str(task),
            "--storage",
            url,
            "--proposer",
            "mutate",
            "--iterations",
            "6",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["seed_score"] is not None and summary["seed_score"] > 0
    archive = open_archive(url)
    run = archive.latest_run()
    assert run is not None
    seed = archive.candidates(run.id)[0]
    archive.close()
    stages = [s["name"] for s in seed.evaluation["stages"]]
    assert stages == ["evaluate_stage1", "evaluate_stage2"]
    assert seed.metrics["runs_successfully"] == 1.0 and "combined_score" in seed.metrics
    # the default (contained) sandbox ran it, and the run records that the evaluator shares its process
    assert seed.evaluation["stages"][0]["sandbox"]["shares_process_with_candidate"] is True
    assert seed.evaluation["stages"][0]["sandbox"]["runs"][0]["backend"] in ("zygote", "exec")


@pytest.mark.slow
def test_openevolve_error_dict_is_a_failure_not_zero(tmp_path: Path) -> None:
    broken = PROGRAM.replace("return best, best_v", "return best, undefined_name")
    task = write_task(tmp_path / "oe_broken", {"initial_program.py": PROGRAM, "evaluator.py": EVALUATOR})
    bad = tmp_path / "bad.py"
    bad.write_text(broken)
    url = f"sqlite:///{tmp_path}/oe2.db"
    proc = subprocess.run(
        [sys.executable, "-m", "godel", "try", str(task), str(bad), "--storage", url, "--json"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    cand = json.loads(proc.stdout)["candidates"][0]
    assert cand["status"] == "failed" and cand["score"] is None
    assert "undefined_name" in cand["reason"]
