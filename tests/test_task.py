from __future__ import annotations

import importlib.metadata
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from godel.candidate import Program
from godel.errors import ConfigError, TaskError
from godel.task import load_task
from tests.helpers import EXAMPLES

PROG = """import math
# EVOLVE-BLOCK-START
def f(x):
    return x * 2
# EVOLVE-BLOCK-END

def main():
    return f(3)
"""
EVAL = "def evaluate(program_path):\n    return {'combined_score': 1.0}\n"


def test_openevolve_layout_loads_with_defaults(make_task: Callable[..., Path]) -> None:
    root = make_task({"initial_program.py": PROG, "evaluator.py": EVAL})
    task = load_task(root)
    assert task.mode == "file"
    assert task.stages == ("evaluate",)
    assert task.program.main_path == "initial_program.py"
    assert "evaluator.py" in task.support_files


def _task(make_task: Callable[..., Path], **files: str) -> Path:
    return make_task(files)


def test_examples_load() -> None:
    for name in ("function_minimization", "circle_packing"):
        task = load_task(EXAMPLES / name)
        assert task.name == name
        assert task.stages == ("evaluate",)


def test_edit_outside_block_is_illegal(make_task: Callable[..., Path]) -> None:
    root = _task(make_task, **{"initial_program.py": PROG, "evaluator.py": EVAL})
    task = load_task(root)
    inside = task.program.replace("initial_program.py", PROG.replace("x * 2", "x * 3"))
    outside = task.program.replace("initial_program.py", PROG.replace("f(3)", "f(4)"))
    broken = task.program.replace("initial_program.py", PROG.replace("# EVOLVE-BLOCK-END\n", ""))
    assert task.check_edit(task.program, inside) is None
    assert "outside the EVOLVE-BLOCK" in (task.check_edit(task.program, outside) or "")
    assert "markers" in (task.check_edit(task.program, broken) or "")


def test_cascade_stages_detected(make_task: Callable[..., Path]) -> None:
    ev = "def evaluate_stage1(p):\n    return {}\ndef evaluate_stage2(p):\n    return {}\ndef evaluate(p):\n    return {}\n"
    root = _task(make_task, **{"initial_program.py": PROG, "evaluator.py": ev})
    assert load_task(root).stages == ("evaluate_stage1", "evaluate_stage2")


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"evaluator.py": EVAL}, "no program"),
        ({"initial_program.py": PROG}, "evaluator evaluator.py not found"),
        (
            {"initial_program.py": PROG, "evaluator.py": "def nope(p):\n    pass\n"},
            "defines no function evaluate",
        ),
        ({"initial_program.py": PROG, "evaluator.py": "def evaluate(:\n"}, "not valid Python"),
        ({"initial_program.py": "# EVOLVE-BLOCK-START\nx = 1\n", "evaluator.py": EVAL}, "never closed"),
    ],
)
def test_broken_tasks_name_the_cause(
    make_task: Callable[..., Path], files: dict[str, str], message: str
) -> None:
    root = _task(make_task, **files)
    with pytest.raises(TaskError, match=message):
        load_task(root)


def test_missing_directory() -> None:
    with pytest.raises(TaskError, match="does not exist"):
        load_task("/nonexistent/task")


def test_folder_program_with_fixed_files(make_task: Callable[..., Path]) -> None:
    root = _task(
        make_task,
        **{
            "src/main.py": "from helper import g\n\ndef main():\n    return g()\n",
            "src/helper.py": "def g():\n    return 1\n",
            "evaluator.py": EVAL,
            "godel.toml": '[task]\nprogram = "src"\nfixed = ["main.py"]\n',
        },
    )
    task = load_task(root)
    assert task.mode == "folder"
    assert set(task.program.files) == {"helper.py", "main.py"}
    ok = task.program.replace("helper.py", "def g():\n    return 2\n")
    bad = task.program.replace("main.py", "def main():\n    return 5\n")
    assert task.check_edit(task.program, ok) is None
    assert "fixed file main.py" in (task.check_edit(task.program, bad) or "")
    escape = Program({**task.program.files, "../evil.py": "x = 1\n"})
    assert "outside" in (task.check_edit(task.program, escape) or "")


# -- requirements, read when the task loads ----------------------------------------------------------------------


def test_installed_requirements_load_and_are_recorded(make_task: Callable[..., Path]) -> None:
    reqs = (
        "# what the evaluator needs\nnumpy>=1.0  # inline comment\n\nalso-not-here; python_version < '3.0'\n"
    )
    root = _task(make_task, **{"initial_program.py": PROG, "evaluator.py": EVAL, "requirements.txt": reqs})
    task = load_task(root)
    assert task.requirements == ("numpy>=1.0",)  # the line for another Python is not this environment's
    assert task.info()["requirements"] == ["numpy>=1.0"]


def test_missing_requirements_are_named_with_the_install_command(make_task: Callable[..., Path]) -> None:
    root = _task(
        make_task,
        **{
            "initial_program.py": PROG,
            "evaluator.py": EVAL,
            "requirements.txt": "-r more.txt\nnumpy<1.0\n",
            "more.txt": "godel-no-such-package-xyz>=2\n",
            "godel.toml": '[task]\nrequires = ["godel-another-missing-pkg"]\n',
        },
    )
    with pytest.raises(TaskError) as info:
        load_task(root)
    err = info.value
    assert err.user_error  # the CLI exits 2
    installed = importlib.metadata.version("numpy")
    assert "godel-no-such-package-xyz>=2 (not installed; more.txt:1)" in err.message
    assert f"numpy<1.0 ({installed} installed; requirements.txt:2)" in err.message
    assert "godel-another-missing-pkg (not installed; task.requires)" in err.message
    assert err.hint is not None and sys.executable in err.hint
    assert "install 'godel-no-such-package-xyz>=2' 'numpy<1.0' godel-another-missing-pkg" in err.hint


def test_requirement_lines_that_cannot_be_checked_are_noted(make_task: Callable[..., Path]) -> None:
    reqs = "--index-url https://example.invalid/simple\n-e ./vendored\ngit+https://example.invalid/x.git\n"
    root = _task(make_task, **{"initial_program.py": PROG, "evaluator.py": EVAL, "requirements.txt": reqs})
    task = load_task(root)
    assert task.requirements == ()
    assert any("requirements.txt:2" in n and "editable" in n for n in task.notes)
    assert any("requirements.txt:3" in n and "not checked" in n for n in task.notes)


def test_a_malformed_requires_entry_is_a_config_error(make_task: Callable[..., Path]) -> None:
    root = _task(
        make_task,
        **{
            "initial_program.py": PROG,
            "evaluator.py": EVAL,
            "godel.toml": '[task]\nrequires = ["scipy>>1"]\n',
        },
    )
    with pytest.raises(ConfigError, match=r"task.requires.*'scipy>>1' is not a requirement"):
        load_task(root)


# -- which metric is the fitness, said at load time when the evaluator's source shows it ---------------------------


@pytest.mark.parametrize(
    ("body", "note"),
    [
        ("def evaluate(p):\n    return {'a': 1.0, 'b': 2.0, 'label': 'x'}\n", "mean of its 2 metrics (a, b)"),
        (
            "from openevolve.evaluation_result import EvaluationResult\n"
            "def evaluate(p):\n"
            "    try:\n"
            "        return EvaluationResult(metrics={'speed': 1.0, 'accuracy': 0.5}, artifacts={'x': 'y'})\n"
            "    except Exception as e:\n"
            "        return {'speed': 0.0, 'error': str(e)}\n",
            "mean of its 2 metrics (accuracy, speed)",
        ),
        (
            "def _full(p):\n    return {'x': 1.0, 'y': 2.0, 'z': 3.0}\n"
            "def evaluate_stage1(p):\n    return {'quick': 1.0}\n"
            "def evaluate_stage2(p):\n    return _full(p)\n",
            "mean of its 3 metrics (x, y, z)",
        ),
        ("def evaluate(p):\n    return {'combined_score': 1.0, 'b': 2.0}\n", None),
        ("def evaluate(p):\n    return {'only': 1.0}\n", None),
        (
            "def evaluate(p):\n    m = {'a': 1.0, 'b': 2.0}\n    return m\n",
            None,
        ),  # the source does not show it
    ],
)
def test_mean_fitness_is_announced_at_load(
    make_task: Callable[..., Path], body: str, note: str | None
) -> None:
    task = load_task(_task(make_task, **{"initial_program.py": PROG, "evaluator.py": body}))
    notes = [n for n in task.notes if "fitness" in n]
    if note is None:
        assert notes == []
    else:
        assert len(notes) == 1 and note in notes[0] and "no 'combined_score'" in notes[0]
        assert "set task.metric" in notes[0]
        assert task.info()["notes"] == list(task.notes)


def test_no_note_when_the_metric_is_named(make_task: Callable[..., Path]) -> None:
    body = "def evaluate(p):\n    return {'loss': 1.0, 'time': 2.0}\n"
    files = {"initial_program.py": PROG, "evaluator.py": body, "godel.toml": '[task]\nmetric = "loss"\n'}
    assert load_task(_task(make_task, **files)).notes == ()
