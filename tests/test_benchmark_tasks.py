"""The yardstick's small tasks (benchmarks/tasks, used by benchmarks/search_bench.py): each seed evaluates below its
ceiling, a better program scores higher, and the strict validators fail invalid answers instead of scoring them."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

TASKS = Path(__file__).resolve().parents[1] / "benchmarks" / "tasks"


def _evaluator(task: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"bench_{task}", TASKS / task / "evaluator.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _score(task: str, program: str, tmp_path: Path) -> float:
    path = tmp_path / "program.py"
    path.write_text(program)
    return float(_evaluator(task).evaluate(str(path))["combined_score"])


def _seed(task: str) -> str:
    return (TASKS / task / "initial_program.py").read_text()


@pytest.mark.parametrize(
    "task", ["symbolic_regression", "disk_cover", "autocorrelation", "partition", "bin_packing"]
)
def test_the_seed_scores_below_the_ceiling(task: str, tmp_path: Path) -> None:
    assert 0 < _score(task, _seed(task), tmp_path) < 1


@pytest.mark.parametrize(
    ("task", "old", "new"),
    [
        (
            "symbolic_regression",
            "AMPLITUDE = 1.0\nFREQUENCY = 1.0\nCURVATURE = 0.1\nOFFSET = 0.1",
            "AMPLITUDE = 1.7\nFREQUENCY = 0.8\nCURVATURE = 0.3\nOFFSET = 0.5",
        ),
        ("partition", "[1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3]", "[1, 2, 1, 3, 2, 3, 3, 3, 2, 2, 3, 3]"),
        (
            "autocorrelation",
            "[1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]",
            "[2.1, 0.4, 0.2, 2.1, 0.3, 0.6, 1.2, 1.8, 1.1, 2.7, 2.3, 2.6]",  # 0.87, from a random search,
        ),
    ],
)
def test_a_better_program_scores_higher(task: str, old: str, new: str, tmp_path: Path) -> None:
    seed = _seed(task)
    assert old in seed
    better = _score(task, seed.replace(old, new), tmp_path)
    assert better > _score(task, seed, tmp_path)
    if task in ("symbolic_regression", "partition"):
        assert better == pytest.approx(1.0, abs=0.01)  # the generating constants; an exact partition


@pytest.mark.parametrize(
    ("task", "old", "new", "reason"),
    [
        ("disk_cover", "(0.5, 0.5),", "(1.5, 0.5),", "unit square"),
        ("disk_cover", "(0.5, 0.5),\n", "", "expected 5"),
        ("partition", "3, 3, 3, 3]", "3, 3, 3, 4]", "machine numbers"),
        ("autocorrelation", "[1.0, 1.0,", "[-1.0, 1.0,", "non-negative"),
    ],
)
def test_invalid_answers_fail(task: str, old: str, new: str, reason: str, tmp_path: Path) -> None:
    seed = _seed(task)
    assert old in seed
    with pytest.raises(ValueError, match=reason):
        _score(task, seed.replace(old, new), tmp_path)
