"""The seed agent's own strategy: solving with examples and repair, and improving itself from its failures."""

from __future__ import annotations

import re

from godel.agents import Broker, Problem, benchmark_knowledge, load_agent
from godel.engine import DEFAULT_STAGE_PRECHECKS
from godel.guard import make_guard
from godel.llm.testing import FakeChatServer
from godel.sandbox import Sandbox
from tests.agents.conftest import pool_for, solver

SEED = load_agent()
SOURCE = SEED.program.files["agent.py"]
SETTINGS = SOURCE[
    SOURCE.index("\n", SOURCE.index("# -- strategy:")) + 1 : SOURCE.index("# -- reading the model's")
]


def improve(box: Sandbox, reply: str) -> dict[str, object]:
    with FakeChatServer(reply=reply) as srv:
        res = Broker(box, pool_for(srv.url)).run(
            SEED.program,
            "improve",
            {"score": 0.2, "files": dict(SEED.program.files), "failures": []},
            calls=2,
        )
    assert res.ok, res.error
    assert isinstance(res.value, dict)
    return res.value


def admitted(new_source: str, problems: dict[str, Problem]) -> bool:
    child = SEED.program.replace("agent.py", new_source)
    if any(
        check(SEED, SEED.program, child)
        for check in (*DEFAULT_STAGE_PRECHECKS, benchmark_knowledge(problems))
    ):
        return False
    return make_guard(SEED.config.guard, SEED).gate.check(SEED, SEED.program, child).decision == "allow"


def test_new_settings_from_the_model_become_the_child(box: Sandbox, problems: dict[str, Problem]) -> None:
    settings = SETTINGS.replace("SAMPLES = 2", "SAMPLES = 3").replace(
        "REPAIR_ROUNDS = 1", "REPAIR_ROUNDS = 2"
    )
    out = improve(box, "DIAGNOSIS: it gives up too early\n```python\n" + settings + "```\n")
    new = str(out["files"]["agent.py"])  # type: ignore[index]
    assert out["diagnosis"] == "it gives up too early"
    assert re.search(r"(?m)^SAMPLES = 3", new) and re.search(r"(?m)^REPAIR_ROUNDS = 2", new)
    assert admitted(new, problems)


def test_settings_out_of_range_or_renamed_are_not_taken(box: Sandbox) -> None:
    for bad in (SETTINGS.replace("SAMPLES = 2", "SAMPLES = 500"), SETTINGS.replace("SAMPLES", "N_SAMPLES")):
        out = improve(box, "DIAGNOSIS: more\n```python\n" + bad + "```\n")
        new = str(out["files"]["agent.py"])  # type: ignore[index]
        assert "SAMPLES = 500" not in new and "N_SAMPLES" not in new
        assert "trying" in str(out["diagnosis"]) or out["diagnosis"] == "more"  # a knob turned instead


def test_without_a_usable_reply_one_knob_turns(box: Sandbox, problems: dict[str, Problem]) -> None:
    out = improve(box, "I am not sure what you mean.")
    new = str(out["files"]["agent.py"])  # type: ignore[index]
    changed = [a for a, b in zip(SOURCE.splitlines(), new.splitlines(), strict=False) if a != b]
    assert len(changed) == 1 and "trying" in str(out["diagnosis"])
    assert admitted(new, problems)


def test_solve_repairs_with_the_failing_example(
    box: Sandbox, reference: dict[str, str], problems: dict[str, Problem]
) -> None:
    p = problems["HumanEval/0"]
    # First reply is wrong on the docstring's example; the repair prompt (which quotes it) gets the right one.
    reply = solver(reference, lambda name, body: "is wrong" in body["messages"][-1]["content"])
    with FakeChatServer(reply=reply) as srv:
        res = Broker(box, pool_for(srv.url)).run(SEED.program, "solve", p.public(), calls=4)
    assert res.ok and isinstance(res.value, str)
    assert "def has_close_elements" in res.value and len(res.calls) == 2
