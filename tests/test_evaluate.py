"""The evaluation pipeline against real sandboxed processes (the unsafe-subprocess backend, which needs no setup)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from godel.evaluate import Evaluator
from godel.sandbox import SubprocessSandbox
from godel.task import load_task

PROG = "# EVOLVE-BLOCK-START\nVALUE = 3.0\n# EVOLVE-BLOCK-END\n"
LOAD = (
    "import importlib.util, time, math\n"
    "def _load(p):\n"
    "    s = importlib.util.spec_from_file_location('prog', p)\n"
    "    m = importlib.util.module_from_spec(s)\n"
    "    s.loader.exec_module(m)\n"
    "    return m\n"
)


def _evaluator(
    make_task: Callable[[dict[str, str]], Path], body: str, toml: str = "", prog: str = PROG
) -> Evaluator:
    files = {"initial_program.py": prog, "evaluator.py": LOAD + body}
    if toml:
        files["godel.toml"] = toml
    task = load_task(make_task(files))
    return Evaluator(task, SubprocessSandbox())


def test_ok(make_task: Callable[[dict[str, str]], Path]) -> None:
    ev = _evaluator(
        make_task, "def evaluate(p):\n    return {'combined_score': _load(p).VALUE, 'note': 'hi'}\n"
    )
    res = ev.evaluate(ev.task.program)
    assert res.ok and res.score == 3.0
    assert res.metrics == {"combined_score": 3.0}
    assert res.artifacts["note"] == "hi"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("def evaluate(p):\n    raise ValueError('bad packing')\n", "ValueError: bad packing"),
        ("def evaluate(p):\n    return {}\n", "no numeric metrics"),
        ("def evaluate(p):\n    return {'combined_score': float('nan')}\n", "non-finite"),
        (
            "def evaluate(p):\n    return {'combined_score': 0.0, 'error': 'crashed'}\n",
            "reported an error: crashed",
        ),
        pytest.param("def evaluate(p):\n    time.sleep(30)\n", "timeout", marks=pytest.mark.slow),
        ("def evaluate(p):\n    import os\n    os._exit(3)\n", "without a result"),
        ("def evaluate(p):\n    print('x' * 10_000_000)\n", "output_limit"),
        ("def evaluate(p):\n    return 5\n", "expected a dict"),
        ("import nonexistent_module\ndef evaluate(p):\n    return {}\n", "error while loading the evaluator"),
    ],
)
def test_failures_are_failures_not_zero(
    make_task: Callable[[dict[str, str]], Path], body: str, reason: str
) -> None:
    ev = _evaluator(make_task, body, "[evaluator]\ntimeout_seconds = 1.5\n")
    res = ev.evaluate(ev.task.program)
    assert not res.ok
    assert res.score is None
    assert reason in (res.reason or "")


def test_cascade_stops_below_threshold(make_task: Callable[[dict[str, str]], Path]) -> None:
    body = (
        "def evaluate_stage1(p):\n    return {'combined_score': _load(p).VALUE / 10}\n"
        "def evaluate_stage2(p):\n    return {'combined_score': _load(p).VALUE, 'full': 1}\n"
    )
    low = _evaluator(make_task, body, "[evaluator]\ncascade_thresholds = [0.5]\n")
    res = low.evaluate(low.task.program)
    assert res.ok and res.score == pytest.approx(0.3)
    assert [s.status for s in res.stages] == ["below_threshold"]
    high = _evaluator(make_task, body, "[evaluator]\ncascade_thresholds = [0.2]\n")
    res = high.evaluate(high.task.program)
    assert res.ok and res.score == 3.0 and res.metrics["full"] == 1.0
    assert [s.status for s in res.stages] == ["ok", "ok"]


def test_repeats_report_mean_and_stdev(make_task: Callable[[dict[str, str]], Path]) -> None:
    body = (
        "import os\n"
        "def evaluate(p):\n"
        "    n = len(os.listdir('.'))\n"  # same every time: stdev 0
        "    return {'combined_score': 2.0, 'n': n}\n"
    )
    ev = _evaluator(make_task, body, "[evaluator]\nrepeats = 3\n")
    res = ev.evaluate(ev.task.program)
    assert res.ok and res.metrics["combined_score"] == 2.0 and res.metrics["combined_score_std"] == 0.0
    assert len(res.stages[0].sandbox["runs"]) == 3


def test_minimisation_negates_fitness(make_task: Callable[[dict[str, str]], Path]) -> None:
    ev = _evaluator(
        make_task,
        "def evaluate(p):\n    return {'loss': _load(p).VALUE}\n",
        '[task]\nmetric = "loss"\nmaximize = false\n',
    )
    res = ev.evaluate(ev.task.program)
    assert res.ok and res.score == -3.0 and res.metrics["loss"] == 3.0


def test_openevolve_evaluation_result_object(make_task: Callable[[dict[str, str]], Path]) -> None:
    body = (
        "class EvaluationResult:\n"
        "    def __init__(self, metrics, artifacts):\n"
        "        self.metrics, self.artifacts = metrics, artifacts\n"
        "def evaluate(p):\n"
        "    return EvaluationResult({'combined_score': 0.25}, {'stderr_hint': 'ok'})\n"
    )
    ev = _evaluator(make_task, body)
    res = ev.evaluate(ev.task.program)
    assert res.ok and res.score == 0.25 and res.artifacts["stderr_hint"] == "ok"


def test_mean_of_metrics_without_combined_score(make_task: Callable[[dict[str, str]], Path]) -> None:
    ev = _evaluator(make_task, "def evaluate(p):\n    return {'a': 1.0, 'b': 3.0}\n")
    res = ev.evaluate(ev.task.program)
    assert res.ok and res.score == 2.0
