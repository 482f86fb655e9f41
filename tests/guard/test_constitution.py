"""Constitution loading, validation, pinning by SHA-256, HMAC signatures, and the three tiers in action."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from godel.archive import Archive
from godel.candidate import Program
from godel.errors import GuardError
from godel.guard import ConstitutionGate, GuardConfig, load_constitution, sign_constitution
from godel.guard._constitution import default_constitution_path
from godel.task import Task, load_task
from tests.helpers import write_task

SEED = "# EVOLVE-BLOCK-START\ndef solve(xs):\n    return list(xs)\n# EVOLVE-BLOCK-END\n"
EVALUATOR = "def evaluate(p):\n    return {'combined_score': 1.0}\n"
SMALL = """
version: 1
name: small
default: deny
approval: {timeout_seconds: 60, on_timeout: approve}
deny:
  - id: no-subprocess
    check: forbidden_imports
    params: {modules: [subprocess]}
require_approval:
  - id: writes
    check: file_write
allow:
  - operation: edit
    max_diff_lines: 50
  - operation: import
    modules: [math]
"""


def _task(tmp_path: Path, constitution: str | None = SMALL, extra: dict[str, str] | None = None) -> Task:
    files = {"initial_program.py": SEED, "evaluator.py": EVALUATOR, **(extra or {})}
    if constitution is not None:
        files["constitution.yaml"] = constitution
    return load_task(write_task(tmp_path / "task", files))


def _child(task: Task, body: str) -> Program:
    return Program.single(task.program.main_path, body)


def test_default_constitution_is_valid_and_used_without_one(tmp_path: Path) -> None:
    loaded = load_constitution(None)
    assert loaded.source == "default" and loaded.path == default_constitution_path().resolve()
    assert loaded.sha256 == hashlib.sha256(default_constitution_path().read_bytes()).hexdigest()
    c = loaded.constitution
    assert c.deny and c.require_approval and c.allow
    task = _task(tmp_path, None)
    guard = ConstitutionGate(GuardConfig(), task.root, task=task)
    assert guard.loaded.source == "default"


def test_task_constitution_is_found_and_tiers_apply(tmp_path: Path) -> None:
    task = _task(tmp_path)
    guard = ConstitutionGate(GuardConfig(), task.root, task=task)
    assert guard.loaded.source == "task" and guard.constitution.name == "small"
    ok = guard.check(
        task, task.program, _child(task, "import math\n" + SEED.replace("list(xs)", "sorted(xs)"))
    )
    assert ok.decision == "allow", ok.reasons
    denied = guard.check(task, task.program, _child(task, "import subprocess\n" + SEED))
    assert denied.decision == "deny" and denied.rules[0] == "no-subprocess"
    assert denied.details["findings"][0]["line"] == 1
    supervised = guard.check(task, task.program, _child(task, SEED + "open('notes.txt', 'w').write('x')\n"))
    assert supervised.decision == "require_approval" and "writes" in supervised.rules
    # unmatched operation: an import no allow entry covers -> the constitution's default (deny here)
    unmatched = guard.check(task, task.program, _child(task, "import json\n" + SEED))
    assert unmatched.decision == "deny" and "default" in unmatched.rules
    big = guard.check(task, task.program, _child(task, SEED + "".join(f"X{i} = {i}\n" for i in range(60))))
    assert big.decision == "deny" and any("exceed" in r for r in big.reasons)


def test_config_default_overrides_constitution_default(tmp_path: Path) -> None:
    task = _task(tmp_path)
    guard = ConstitutionGate(GuardConfig(default="require_approval"), task.root, task=task)
    v = guard.check(task, task.program, _child(task, "import json\n" + SEED))
    assert v.decision == "require_approval"


def test_hard_diff_cap(tmp_path: Path) -> None:
    task = _task(tmp_path, None)
    guard = ConstitutionGate(GuardConfig(max_diff_lines=5), task.root, task=task)
    v = guard.check(task, task.program, _child(task, SEED + "".join(f"X{i} = {i}\n" for i in range(10))))
    assert v.decision == "deny" and "max-diff" in v.rules


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("name: [unclosed", "not valid YAML"),
        ("- just\n- a list\n", "must be a mapping"),
        ("name: x\nsurprise: 1\n", "surprise: unknown key"),
        ("name: x\ndeny:\n  - {id: a, check: no_such_check}\n", "unknown check 'no_such_check'"),
        ("name: x\ndeny:\n  - {id: a, check: forbidden_imports, params: {modulez: [os]}}\n", "modulez"),
        ("name: x\ndefault: allow\n", "default"),
        ("name: x\ndeny:\n  - {id: a, check: file_write}\n  - {id: a, check: file_write}\n", "used twice"),
        ("name: x\napproval: {timeout_seconds: -1}\n", "timeout_seconds"),
    ],
)
def test_malformed_constitution_stops_at_start(tmp_path: Path, text: str, needle: str) -> None:
    with pytest.raises(GuardError) as exc:
        task = _task(tmp_path, text)
        ConstitutionGate(GuardConfig(), task.root, task=task)
    assert needle in str(exc.value)
    assert "constitution.yaml" in str(exc.value)


def test_missing_constitution_named_in_config(tmp_path: Path) -> None:
    task = _task(tmp_path, None)
    with pytest.raises(GuardError, match=r"constitution .*nope\.yaml not found"):
        ConstitutionGate(GuardConfig(constitution="nope.yaml"), task.root, task=task)


def test_tampered_constitution_mid_run_stops_next_decision(tmp_path: Path, archive: Archive) -> None:
    task = _task(tmp_path)
    guard = ConstitutionGate(GuardConfig(), task.root, task=task)
    run = archive.create_run("r", task.name, {})
    guard.start(archive, run.id, task)
    events = [e for e in archive.events(run.id) if e.kind == "constitution"]
    assert len(events) == 1 and events[0].payload["sha256"] == guard.sha256 and events[0].actor == "guard"
    assert guard.check(task, task.program, task.program).decision == "allow"
    path = task.root / "constitution.yaml"
    path.write_text(path.read_text().replace("default: deny", "default: require_approval"))
    with pytest.raises(GuardError, match="changed during the run"):
        guard.check(task, task.program, task.program)
    # a fresh guard over the edited file refuses to resume the run that recorded the old hash
    with pytest.raises(GuardError, match="changed since the run started"):
        ConstitutionGate(GuardConfig(), task.root, task=task).start(archive, run.id, task)
    # nothing stored was lost
    assert archive.events(run.id)[0].kind == "constitution"


def test_deleted_constitution_mid_run(tmp_path: Path) -> None:
    task = _task(tmp_path)
    guard = ConstitutionGate(GuardConfig(), task.root, task=task)
    (task.root / "constitution.yaml").unlink()
    with pytest.raises(GuardError, match="can no longer be read"):
        guard.check(task, task.program, task.program)


def test_protected_evaluator_changed_mid_run(tmp_path: Path) -> None:
    task = _task(tmp_path)
    guard = ConstitutionGate(GuardConfig(), task.root, task=task)
    (task.root / "evaluator.py").write_text(EVALUATOR + "# edited\n")
    with pytest.raises(GuardError, match=r"protected task file .*evaluator\.py changed"):
        guard.check(task, task.program, task.program)


def test_hmac_signature(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    task = _task(tmp_path)
    path = task.root / "constitution.yaml"
    monkeypatch.setenv("GODEL_CONSTITUTION_KEY", "k1")
    sign_constitution(path, "k1")
    guard = ConstitutionGate(GuardConfig(require_signature=True), task.root)
    assert guard.loaded.signed
    monkeypatch.setenv("GODEL_CONSTITUTION_KEY", "wrong")
    with pytest.raises(GuardError, match="signature does not match"):
        ConstitutionGate(GuardConfig(), task.root)
    monkeypatch.delenv("GODEL_CONSTITUTION_KEY")
    with pytest.raises(GuardError, match="GODEL_CONSTITUTION_KEY is not set"):
        ConstitutionGate(GuardConfig(), task.root)
    monkeypatch.setenv("GODEL_CONSTITUTION_KEY", "k1")
    path.write_text(path.read_text() + "# sneaky\n")
    with pytest.raises(GuardError, match="signature does not match"):
        ConstitutionGate(GuardConfig(), task.root)


def test_signature_required_but_missing(tmp_path: Path) -> None:
    task = _task(tmp_path)
    with pytest.raises(GuardError, match="has no signature"):
        ConstitutionGate(GuardConfig(require_signature=True), task.root)


def test_candidate_cannot_carry_the_constitution(tmp_path: Path) -> None:
    task = _task(tmp_path, None)
    guard = ConstitutionGate(GuardConfig(), task.root, task=task)
    child = Program({**task.program.files, "constitution.yaml": "name: mine\n"})
    v = guard.check(task, task.program, child)
    assert v.decision == "deny"
