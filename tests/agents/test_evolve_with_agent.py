"""An agent as the proposer of an ordinary run (`godel evolve --agent DIR`): its edit entry point writes the
children of the task's program through the broker, and the pipeline judges them as any others."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from godel.agents import evolve_parts, seed_agent_dir
from godel.candidate import Status
from godel.errors import TaskError
from godel.llm.testing import FakeChatServer
from godel.task import load_task
from tests.agents.conftest import pool_for
from tests.helpers import write_task

PROGRAM = "# EVOLVE-BLOCK-START\nX = 1.0\n# EVOLVE-BLOCK-END\n"
EVALUATOR = "def evaluate(path):\n    ns = {}\n    exec(open(path).read(), ns)\n    return {'combined_score': ns['X']}\n"


def raise_x(body: dict[str, Any]) -> str:
    """A model that answers an edit prompt with the program it was shown, X raised by one."""
    text = body["messages"][-1]["content"]
    m = re.search(r"X = ([0-9.]+)", text)
    x = float(m.group(1)) if m else 1.0
    return f"```python\n# EVOLVE-BLOCK-START\nX = {x + 1.0}\n# EVOLVE-BLOCK-END\n```"


def test_the_agent_writes_children_that_improve(tmp_path: Path) -> None:
    root = write_task(tmp_path / "t", {"initial_program.py": PROGRAM, "evaluator.py": EVALUATOR})
    task = load_task(
        root, ["run.iterations=3", "run.parallel=1", "run.noise_samples=0", "selector.name=greedy"]
    )
    with (
        FakeChatServer(reply=raise_x) as srv,
        evolve_parts(task, seed_agent_dir(), f"sqlite:///{tmp_path}/a.db", pool=pool_for(srv.url)) as parts,
    ):
        summary = parts.engine().run()
        cands = parts.archive.candidates(summary.run_id)
    assert [c.status for c in cands] == [Status.OK] * 4
    assert [c.score for c in cands] == [1.0, 2.0, 3.0, 4.0]
    assert all(c.proposer == "agent" and c.tokens_out > 0 for c in cands[1:])
    assert len(srv.log) == 3  # one brokered call per child


def test_an_agent_without_an_edit_entry_point_is_refused(tmp_path: Path) -> None:
    root = write_task(tmp_path / "t", {"initial_program.py": PROGRAM, "evaluator.py": EVALUATOR})
    agent = tmp_path / "agent"
    agent.mkdir()
    (agent / "agent.py").write_text(
        "def solve(task):\n    return ''\n\n\ndef improve(context):\n    return {}\n"
    )
    with pytest.raises(TaskError, match="no edit"):
        evolve_parts(load_task(root), agent, f"sqlite:///{tmp_path}/a.db")
