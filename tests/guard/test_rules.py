"""Individual rules: evidence, diff-awareness (constructs the parent had), supervised tier, robustness."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from godel.candidate import Program
from godel.guard import ConstitutionGate, GuardConfig
from godel.guard.rules import norm_number
from godel.task import Task, load_task
from tests.helpers import write_task

EVALUATOR = "TARGET = 12.345678\n\ndef evaluate(p):\n    return {'combined_score': 1.0}\n"


def _task(tmp_path: Path, seed: str, files: dict[str, str] | None = None) -> Task:
    return load_task(
        write_task(tmp_path / "t", {"initial_program.py": seed, "evaluator.py": EVALUATOR, **(files or {})})
    )


def test_constructs_inherited_from_the_parent_do_not_block(tmp_path: Path) -> None:
    seed = "import glob\n\ndef solve():\n    return glob.glob('*.txt')\n"
    task = _task(tmp_path, seed)
    guard = ConstitutionGate(GuardConfig(), task.root, task=task)
    v = guard.check(task, task.program, Program.single("initial_program.py", seed + "\nX = 1\n"))
    assert v.decision == "allow" and v.details["inherited"] >= 1
    # ...but a second use is new
    v2 = guard.check(task, task.program, Program.single("initial_program.py", seed + "\nimport subprocess\n"))
    assert v2.decision == "deny"


def test_evidence_has_rule_check_and_line(tmp_path: Path) -> None:
    task = _task(tmp_path, "def solve():\n    return 1\n")
    guard = ConstitutionGate(GuardConfig(), task.root, task=task)
    child = "def solve():\n    x = 1\n    return eval(input())\n"
    v = guard.check(task, task.program, Program.single("initial_program.py", child))
    (f,) = [f for f in v.details["findings"] if f["check"] == "dynamic_code"]
    assert f == {
        "rule": "no-dynamic-code",
        "tier": "deny",
        "check": "dynamic_code",
        "message": "eval() of code built at run time",
        "path": "initial_program.py",
        "line": 3,
    }
    assert v.seconds > 0 and v.details["constitution"] == guard.sha256


def test_large_literal_table_is_supervised(tmp_path: Path) -> None:
    task = _task(tmp_path, "def solve():\n    return 1\n")
    guard = ConstitutionGate(GuardConfig(), task.root, task=task)
    table = "TABLE = [" + ", ".join(str(i * 7 % 101) for i in range(100)) + "]\n"
    v = guard.check(
        task, task.program, Program.single("initial_program.py", table + "def solve():\n    return 1\n")
    )
    assert v.decision == "require_approval" and v.rules == ("big-tables",)


def test_copied_evaluator_constant_denied_but_seed_constant_fine(tmp_path: Path) -> None:
    task = _task(tmp_path, "K = 98.76543\n\ndef solve():\n    return K\n")
    guard = ConstitutionGate(GuardConfig(), task.root, task=task)
    same = guard.check(
        task,
        task.program,
        Program.single("initial_program.py", "K = 98.76543\n\ndef solve():\n    return K * 2\n"),
    )
    assert same.decision == "allow"
    copied = guard.check(
        task, task.program, Program.single("initial_program.py", "def solve():\n    return 12.345678\n")
    )
    assert copied.decision == "deny" and "no-hardcoded-answers" in copied.rules


def test_folder_program_cannot_add_conftest_or_copy_evaluator(tmp_path: Path) -> None:
    root = write_task(
        tmp_path / "f",
        {
            "prog/main.py": "def solve():\n    return 1\n",
            "evaluator.py": EVALUATOR,
            "godel.toml": "[task]\nprogram = 'prog'\n",
        },
    )
    task = load_task(root)
    guard = ConstitutionGate(GuardConfig(), task.root, task=task)
    hook = Program(
        {**task.program.files, "conftest.py": "def pytest_runtest_makereport(item, call):\n    pass\n"}
    )
    assert guard.check(task, task.program, hook).decision == "deny"
    copy = Program({**task.program.files, "helper.py": EVALUATOR})
    v = guard.check(task, task.program, copy)
    assert v.decision == "deny" and any("copy of evaluator.py" in r for r in v.reasons)
    fine = Program({**task.program.files, "util.py": "def twice(x):\n    return 2 * x\n"})
    assert guard.check(task, task.program, fine).decision == "allow"


def test_norm_number() -> None:
    assert norm_number(2.6358627564136983) == "2.63586"
    assert norm_number(0.5) is None and norm_number(1e-9) is None and norm_number(100) is None
    assert norm_number(3.14159265) is None  # pi is nobody's secret
    assert norm_number(123457) == "123457" and norm_number(10000) is None


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(max_size=300))
def test_any_text_gets_a_verdict(tmp_path: Path, text: str) -> None:
    task = _task(tmp_path, "def solve():\n    return 1\n")
    guard = ConstitutionGate(GuardConfig(), task.root, task=task)
    v = guard.check(task, task.program, Program.single("initial_program.py", text))
    assert v.decision in ("allow", "deny", "require_approval")
