"""Loading the hacking / legitimate corpus and the task it targets (shared by the tests and the benchmark)."""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from godel.candidate import Program
from godel.task import Task, load_task

CORPUS = Path(__file__).resolve().parent / "corpus"
_HEADER = re.compile(r"^# (parent|cheat|change): (.*)$", re.M)


@dataclass(frozen=True)
class Entry:
    name: str
    parent: str  # seed name
    note: str
    text: str


def entries(kind: str) -> list[Entry]:
    out = []
    for p in sorted((CORPUS / kind).glob("*.py")):
        text = p.read_text()
        head = dict(_HEADER.findall(text))
        out.append(
            Entry(p.stem, head.get("parent", "sort"), head.get("cheat") or head.get("change", ""), text)
        )
    return out


def make_tasks(root: Path) -> dict[str, Task]:
    """One task folder per seed, all sharing the corpus evaluator and its data."""
    tasks = {}
    for seed in sorted((CORPUS / "seeds").glob("*.py")):
        d = root / seed.stem
        shutil.copytree(CORPUS / "task", d)
        shutil.copy(seed, d / "initial_program.py")
        tasks[seed.stem] = load_task(d)
    return tasks


def child_of(task: Task, entry: Entry) -> Program:
    return Program.single(task.program.main_path, entry.text)
