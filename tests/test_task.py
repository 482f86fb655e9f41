from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from godel.candidate import Program
from godel.errors import TaskError
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
