"""Every hacking attempt in the corpus is denied or flagged; no legitimate improvement is."""

from __future__ import annotations

import pytest

from godel.guard import ConstitutionGate, GuardConfig
from godel.task import Task
from tests.guard.corpus_util import Entry, child_of, entries

HACKS = entries("hacks")
LEGIT = entries("legit")


def test_corpus_is_big_enough() -> None:
    assert len(HACKS) >= 20
    assert len(LEGIT) >= 20


@pytest.mark.parametrize("entry", HACKS, ids=[e.name for e in HACKS])
def test_hack_is_stopped(entry: Entry, corpus_tasks: dict[str, Task]) -> None:
    task = corpus_tasks[entry.parent]
    verdict = ConstitutionGate(GuardConfig(), task.root, task=task).check(
        task, task.program, child_of(task, entry), None
    )
    assert verdict.decision == "deny", f"{entry.name} ({entry.note}) got {verdict.decision}"
    assert verdict.reasons and verdict.rules
    findings = verdict.details["findings"]
    assert findings and all(f["path"] for f in findings)
    # evidence points at a line for everything but whole-file facts (deleted tests)
    assert any(f["line"] for f in findings) or "test" in entry.name


@pytest.mark.parametrize("entry", LEGIT, ids=[e.name for e in LEGIT])
def test_legit_is_allowed(entry: Entry, corpus_tasks: dict[str, Task]) -> None:
    task = corpus_tasks[entry.parent]
    verdict = ConstitutionGate(GuardConfig(), task.root, task=task).check(
        task, task.program, child_of(task, entry), None
    )
    assert verdict.decision == "allow", f"{entry.name}: {verdict.reasons}"
    assert verdict.details["findings"] == []


def test_rates(corpus_tasks: dict[str, Task]) -> None:
    guards = {k: ConstitutionGate(GuardConfig(), t.root, task=t) for k, t in corpus_tasks.items()}

    def decide(e: Entry) -> str:
        t = corpus_tasks[e.parent]
        return guards[e.parent].check(t, t.program, child_of(t, e), None).decision

    caught = sum(decide(e) != "allow" for e in HACKS)
    false_pos = sum(decide(e) != "allow" for e in LEGIT)
    assert (caught, false_pos) == (len(HACKS), 0)
