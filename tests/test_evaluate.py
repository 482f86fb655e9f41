"""The evaluation pipeline against real sandboxed processes (the unsafe-subprocess backend, which needs no setup)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from godel.evaluate import Evaluator, limit_hint
from godel.sandbox import SubprocessSandbox, ZygoteSandbox
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


# -- results are validated: only real numbers are scores -----------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("    return {'combined_score': True}\n", "metric 'combined_score' is a bool (True), not a number"),
        (
            "    return {'combined_score': '0.9', 'other': 1.0}\n",
            "metric 'combined_score' is a str ('0.9'), not a number",
        ),
        (
            "    return {'combined_score': None, 'other': 1.0}\n",
            "metric 'combined_score' is None, not a number",
        ),
        (
            "    import numpy as np\n    return {'combined_score': np.bool_(True)}\n",
            "metric 'combined_score' is a numpy.bool",
        ),
        (
            "    from openevolve.evaluation_result import EvaluationResult\n"
            "    return EvaluationResult(metrics={'combined_score': False}, artifacts={'note': 'x'})\n",
            "metric 'combined_score' is a bool (False), not a number",
        ),
        (
            "    return {'passed': True, 'label': 'fast'}\n",
            "evaluator returned no numeric metrics (it returned only 'label' (str), 'passed' (bool))",
        ),
        (
            "    from openevolve.evaluation_result import EvaluationResult\n"
            "    return EvaluationResult(metrics={}, artifacts={'log': 'x'})\n",
            "evaluator returned no numeric metrics (it returned no metrics at all; artifacts log)",
        ),
        (
            "    return {'combined_score': 1.0, 'loss': float('inf')}\n",
            "non-finite metric: 'loss' is inf",
        ),
        (
            "    return {'combined_score': float('nan'), 'loss': float('-inf')}\n",
            "non-finite metrics: 'combined_score' is nan, 'loss' is -inf",
        ),
    ],
)
def test_values_that_are_not_numbers_are_not_scores(
    make_task: Callable[[dict[str, str]], Path], body: str, reason: str
) -> None:
    ev = _evaluator(make_task, "def evaluate(p):\n" + body)
    res = ev.evaluate(ev.task.program)
    assert not res.ok and res.score is None
    assert reason in (res.reason or ""), res.reason


def test_values_that_are_not_numbers_stay_artifacts(make_task: Callable[[dict[str, str]], Path]) -> None:
    body = "def evaluate(p):\n    return {'combined_score': 0.5, 'passed': True, 'label': 'fast', 'n': 3}\n"
    ev = _evaluator(make_task, body)
    res = ev.evaluate(ev.task.program)
    assert res.ok and res.score == 0.5
    assert res.metrics == {"combined_score": 0.5, "n": 3.0}
    assert res.artifacts["passed"] == "True" and res.artifacts["label"] == "fast"


def test_mean_fitness_is_said_with_the_result(make_task: Callable[[dict[str, str]], Path]) -> None:
    # The source does not show the keys, so only the evaluation can tell.
    body = "def evaluate(p):\n    m = dict(a=1.0, b=3.0)\n    return m\n"
    ev = _evaluator(make_task, body)
    assert ev.task.notes == ()
    res = ev.evaluate(ev.task.program)
    assert res.ok and res.score == 2.0
    note = res.artifacts["fitness_source"]
    assert "no 'combined_score'" in note and "mean of its 2 metrics (a, b)" in note
    one = _evaluator(make_task, "def evaluate(p):\n    return {'loss': 1.0}\n")
    assert "fitness_source" not in one.evaluate(one.task.program).artifacts


# -- a limit that ends an evaluation names the setting that raises it ----------------------------------------------


def test_output_limit_names_its_setting(make_task: Callable[[dict[str, str]], Path]) -> None:
    ev = _evaluator(make_task, "def evaluate(p):\n    print('x' * 3_000_000)\n")
    res = ev.evaluate(ev.task.program)
    hint = "raise sandbox.output_bytes (now 1000000 bytes) in godel.toml or with --set sandbox.output_bytes=2000000"
    assert not res.ok and res.reason is not None
    assert "output_limit" in res.reason and hint in res.reason
    assert limit_hint(res.to_dict()) == hint
    assert res.stages[0].sandbox["limit"]["setting"] == "sandbox.output_bytes"


def test_no_limit_no_hint(make_task: Callable[[dict[str, str]], Path]) -> None:
    ev = _evaluator(make_task, "def evaluate(p):\n    raise ValueError('bad')\n")
    res = ev.evaluate(ev.task.program)
    assert not res.ok and limit_hint(res.to_dict()) is None


@pytest.mark.slow
@pytest.mark.parametrize(
    ("toml", "hint"),
    [
        (
            "[evaluator]\ntimeout_seconds = 1.0\n",
            "raise evaluator.timeout_seconds (now 1 s) in godel.toml or with --set evaluator.timeout_seconds=2",
        ),
        (
            "[evaluator]\nstage_timeouts = [1.0]\n",
            "raise evaluator.stage_timeouts[0] (now 1 s) in godel.toml or with --set evaluator.stage_timeouts=[2]",
        ),
    ],
)
def test_time_limit_names_its_setting(
    make_task: Callable[[dict[str, str]], Path], toml: str, hint: str
) -> None:
    ev = _evaluator(make_task, "def evaluate(p):\n    time.sleep(30)\n", toml)
    res = ev.evaluate(ev.task.program)
    assert not res.ok and "timeout" in (res.reason or "") and hint in (res.reason or "")
    assert limit_hint(res.to_dict()) == hint


@pytest.fixture(scope="module")
def zygote() -> Iterator[ZygoteSandbox]:
    box = ZygoteSandbox(slots=1, mode="fork")
    yield box
    box.close()


@pytest.mark.parametrize(
    ("body", "toml", "hint"),
    [
        (
            "    blocks = [bytearray(16 * 2**20) for _ in range(64)]\n    return {'combined_score': len(blocks)}\n",
            "[sandbox]\nmemory_mb = 128\n",
            "raise sandbox.memory_mb (now 128 MB) in godel.toml or with --set sandbox.memory_mb=256",
        ),
        (
            "    with open('big', 'wb') as f:\n        f.write(bytes(8 * 2**20))\n    return {'combined_score': 1.0}\n",
            "[sandbox]\ndisk_mb = 2\n",
            "raise sandbox.disk_mb (now 2 MB) in godel.toml or with --set sandbox.disk_mb=4",
        ),
        (
            "    import threading\n"
            "    stop = threading.Event()\n"
            "    threads = [threading.Thread(target=stop.wait) for _ in range(16)]\n"
            "    try:\n"
            "        for t in threads:\n"
            "            t.start()\n"
            "    finally:\n"
            "        stop.set()\n"
            "    return {'combined_score': 1.0}\n",
            "[sandbox]\nmax_processes = 4\n",
            "raise sandbox.max_processes (now 4) in godel.toml or with --set sandbox.max_processes=8",
        ),
    ],
)
def test_sandbox_limits_name_their_setting(
    make_task: Callable[[dict[str, str]], Path], zygote: ZygoteSandbox, body: str, toml: str, hint: str
) -> None:
    files = {
        "initial_program.py": PROG,
        "evaluator.py": LOAD + "def evaluate(p):\n" + body,
        "godel.toml": toml,
    }
    task = load_task(make_task(files))
    res = Evaluator(task, zygote).evaluate(task.program)
    assert not res.ok and hint in (res.reason or ""), res.reason


# -- OpenEvolve 0.4's contract inside the sandbox --------------------------------------------------------------------


def test_openevolve_names_godel_provides(make_task: Callable[[dict[str, str]], Path]) -> None:
    body = (
        "from openevolve.evaluation_result import EvaluationResult, EVALUATION_FAILED_METRIC\n"
        "from openevolve.utils.metrics_utils import get_fitness_score, safe_numeric_average, safe_numeric_sum\n"
        "from openevolve.utils.format_utils import format_metrics_safe, format_improvement_safe\n"
        "def evaluate(p):\n"
        "    m = {'a': 1.0, 'b': 3, 'c': float('nan'), 'd': 'text'}\n"
        "    r = EvaluationResult.from_dict({'combined_score': _load(p).VALUE})\n"
        "    r.artifacts['avg'] = str(safe_numeric_average(m))\n"
        "    r.artifacts['sum'] = str(safe_numeric_sum(m))\n"
        "    r.artifacts['fitness'] = str(get_fitness_score(m))\n"
        "    r.artifacts['fmt'] = format_metrics_safe({'a': 1.0, 'd': 'x'})\n"
        "    r.artifacts['delta'] = format_improvement_safe({'a': 1.0}, {'a': 1.5})\n"
        "    r.artifacts['size'] = str(r.get_total_artifact_size() > 0 and r.has_artifacts())\n"
        "    r.artifacts['failed_key'] = EVALUATION_FAILED_METRIC\n"
        "    assert r.to_dict() is r.metrics\n"
        "    return r\n"
    )
    ev = _evaluator(make_task, body)
    res = ev.evaluate(ev.task.program)
    assert res.ok and res.score == 3.0, res.reason
    arts = res.artifacts
    assert (arts["avg"], arts["sum"], arts["fitness"]) == ("2.0", "4.0", "2.0")
    assert arts["fmt"] == "a=1.0000, d=x" and arts["delta"] == "a=0.5000"
    assert arts["size"] == "True" and arts["failed_key"] == "__evaluation_failed__"


def test_openevolve_engine_names_fail_with_the_reason(make_task: Callable[[dict[str, str]], Path]) -> None:
    ev = _evaluator(make_task, "from openevolve import OpenEvolve\ndef evaluate(p):\n    return {}\n")
    res = ev.evaluate(ev.task.program)
    assert not res.ok and "error while loading the evaluator" in (res.reason or "")
    assert "openevolve.OpenEvolve is part of the OpenEvolve engine, which godel does not provide" in (
        res.reason or ""
    )


def test_binary_artifacts_are_described_not_garbled(make_task: Callable[[dict[str, str]], Path]) -> None:
    body = (
        "from openevolve.evaluation_result import EvaluationResult\n"
        "def evaluate(p):\n"
        "    return EvaluationResult({'combined_score': 1.0}, {'png': b'\\x89PNG\\xff', 'log': b'plain text'})\n"
    )
    ev = _evaluator(make_task, body)
    res = ev.evaluate(ev.task.program)
    assert (
        res.ok and res.artifacts["png"] == "<5 bytes of binary data>" and res.artifacts["log"] == "plain text"
    )
