"""OpenEvolve-style task folders (initial_program.py + evaluator.py, no godel.toml) run unchanged: the dict forms,
and the OpenEvolve 0.4 tasks of tests/compat_tasks that import openevolve.evaluation_result.EvaluationResult."""

from __future__ import annotations

import hashlib
import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from godel.archive import open_archive
from godel.candidate import Evaluation
from godel.evaluate import Evaluator
from godel.sandbox import ZygoteSandbox
from godel.task import Task, load_task
from tests.helpers import ROOT, write_task

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


# -- OpenEvolve 0.4-style tasks, written here in the style of its examples, evaluate their seeds unchanged ---------

COMPAT_TASKS = ROOT / "tests" / "compat_tasks"

# task -> (cascade stages, metrics, artifacts the evaluator returns besides the captured output)
EXPECTED: dict[str, tuple[tuple[str, ...], set[str], set[str]]] = {
    "function_minimization": (
        ("evaluate",),
        {"value_score", "distance_score", "speed_score", "reliability_score", "combined_score"},
        {"best_value", "average_distance", "trials"},
    ),
    "circle_packing_with_artifacts": (
        ("evaluate_stage1", "evaluate_stage2"),
        {"validity", "sum_radii", "target_ratio", "eval_time", "combined_score"},
        {"stage", "packing_summary", "execution_time", "validation_report", "radius_stats"},
    ),
    "sorting_cascade": (
        ("evaluate_stage1", "evaluate_stage2", "evaluate_stage3"),
        {"correctness", "speed_score", "robustness", "combined_score"},
        {"stage", "cases", "timing", "robustness_cases"},
    ),
    "background_blur": (
        ("evaluate",),
        {"accuracy_score", "speed_score", "balance", "combined_score"},
        {"summary", "rmse", "openevolve_version", "preview.pgm"},
    ),
}


def _digest(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def compat_results(request: pytest.FixtureRequest) -> dict[str, tuple[Task, Evaluation, bool]]:
    """Each compat task loaded and its seed evaluated in the zygote, with whether its folder stayed unchanged."""
    box = ZygoteSandbox(slots=2, mode="fork")
    out: dict[str, tuple[Task, Evaluation, bool]] = {}
    try:
        for name in sorted(EXPECTED):
            before = _digest(COMPAT_TASKS / name)
            task = load_task(COMPAT_TASKS / name)
            res = Evaluator(task, box).evaluate(task.program)
            out[name] = (task, res, _digest(COMPAT_TASKS / name) == before)
    finally:
        box.close()
    line = ", ".join(
        f"{name} {'ok' if res.ok else 'FAILED'} (score {res.score:.4f}, {len(res.metrics)} metrics, "
        f"{len(res.artifacts)} artifacts, {len(res.stages)} stage{'s' if len(res.stages) > 1 else ''})"
        if res.ok and res.score is not None
        else f"{name} FAILED ({res.reason})"
        for name, (_, res, _) in out.items()
    )
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.ensure_newline()
        reporter.write_line(f"OpenEvolve 0.4-style tasks under godel: {line}")
    return out


def test_compat_tasks_are_the_ones_checked() -> None:
    assert {p.name for p in COMPAT_TASKS.iterdir() if p.is_dir()} == set(EXPECTED)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_compat_task_evaluates_its_seed_unchanged(
    compat_results: dict[str, tuple[Task, Evaluation, bool]], name: str
) -> None:
    stages, metrics, artifacts = EXPECTED[name]
    task, res, unchanged = compat_results[name]
    assert unchanged, "evaluating must not write into the task folder"
    assert "godel.toml" not in {p.name for p in task.root.iterdir()}  # runs with defaults, as OpenEvolve's do
    assert task.stages == stages
    assert res.ok, res.reason
    assert res.score is not None and 0 < res.score <= 1
    assert [s.status for s in res.stages] == ["ok"] * len(stages)
    assert set(res.metrics) == metrics
    assert res.score == res.metrics["combined_score"]
    assert artifacts <= set(res.artifacts)
    assert all(res.artifacts[k].strip() for k in artifacts)
    assert "fitness_source" not in res.artifacts  # each reports combined_score


@pytest.mark.slow
def test_compat_artifacts_are_intact(compat_results: dict[str, tuple[Task, Evaluation, bool]]) -> None:
    _, packing, _ = compat_results["circle_packing_with_artifacts"]
    assert packing.artifacts["validation_report"] == "Valid: True, Violations: 0 boundary, 0 overlaps"
    assert packing.artifacts["packing_summary"].startswith("Sum of radii: ")  # stage 2's, over stage 1's
    ratio = packing.metrics["sum_radii"] / 2.635
    assert packing.metrics["target_ratio"] == pytest.approx(ratio)
    _, blur, _ = compat_results["background_blur"]
    assert blur.artifacts["openevolve_version"] == "0.4.0+godel"
    assert (
        blur.artifacts["preview.pgm"].startswith("<")
        and "bytes of binary data" in blur.artifacts["preview.pgm"]
    )
    assert blur.artifacts["summary"].startswith("accuracy_score=")
    _, sorting, _ = compat_results["sorting_cascade"]
    assert sorting.artifacts["cases"] == "24/24 sorted correctly"
    assert sorting.artifacts["timing"].endswith(
        "ms for 5 lists of 300"
    )  # a string in a dict stays an artifact
    packing_task, _, _ = compat_results["circle_packing_with_artifacts"]
    assert packing_task.requirements == ("numpy>=1.26",)


def test_openevolve_is_not_importable_by_godel() -> None:
    # godel.evaluate puts the compat package into every job, from text: never onto godel's own import path.
    assert Evaluator is not None and "openevolve" not in sys.modules
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("openevolve")


@pytest.mark.slow
def test_missing_requirement_stops_the_run_before_any_evaluation(tmp_path: Path) -> None:
    task = write_task(
        tmp_path / "needs",
        {
            "initial_program.py": PROGRAM,
            "evaluator.py": EVALUATOR,
            "requirements.txt": "numpy\ngodel-no-such-package-xyz>=1.0\n",
        },
    )
    url = f"sqlite:///{tmp_path}/needs.db"
    proc = subprocess.run(
        [sys.executable, "-m", "godel", "evolve", str(task), "--storage", url, "--iterations", "2"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 2, proc.stderr
    assert "godel-no-such-package-xyz>=1.0 (not installed; requirements.txt:2)" in proc.stderr
    assert "-m pip install 'godel-no-such-package-xyz>=1.0'" in proc.stderr
    assert not (tmp_path / "needs.db").exists()  # nothing was evaluated, or even stored


@pytest.mark.slow
def test_the_run_records_which_metric_is_the_fitness(tmp_path: Path) -> None:
    evaluator = (
        "import importlib.util\n"
        "def evaluate(program_path):\n"
        "    spec = importlib.util.spec_from_file_location('program', program_path)\n"
        "    program = importlib.util.module_from_spec(spec)\n"
        "    spec.loader.exec_module(program)\n"
        "    x, y, v = program.run_search()\n"
        "    return {'value_score': 1.0 / (1.0 + v), 'balance': 0.5}\n"
    )
    task = write_task(tmp_path / "no_fitness_key", {"initial_program.py": PROGRAM, "evaluator.py": evaluator})
    url = f"sqlite:///{tmp_path}/nf.db"
    command = [sys.executable, "-m", "godel", "evolve", str(task), "--storage", url, "--proposer", "mutate"]
    proc = subprocess.run(
        [*command, "--iterations", "1", "--json"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    archive = open_archive(url)
    run = archive.latest_run()
    assert run is not None
    seed = archive.candidates(run.id)[0]
    archive.close()
    (note,) = run.meta["task"]["notes"]
    assert "no 'combined_score'" in note and "mean of its 2 metrics (balance, value_score)" in note
    assert seed.evaluation["artifacts"]["fitness_source"] == note
