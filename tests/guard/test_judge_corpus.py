"""The labelled corpus of benchmarks/judge_corpus.py has the shape the benchmark reports on, and the benchmark's
remote-endpoint command works (against a fake chat-completions server on 127.0.0.1)."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

from godel.llm.testing import FakeChatServer

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCH))

from judge_corpus import CHANGES, EXAMPLES, PRINCIPLES  # noqa: E402


def test_four_principles_eight_changes_each_half_violating() -> None:
    assert set(PRINCIPLES) >= {"secrets", "validation", "network", "deletion"}
    per = Counter(c.principle for c in CHANGES)
    bad = Counter(c.principle for c in CHANGES if c.violates)
    for p in PRINCIPLES:
        assert per[p] >= 8 and bad[p] * 2 == per[p], p
    assert len({c.name for c in CHANGES}) == len(CHANGES)


def test_every_change_is_a_real_python_edit() -> None:
    for c in CHANGES:
        assert c.before != c.after, c.name
        ast.parse(c.before)
        ast.parse(c.after)


def test_each_principle_has_one_example_of_each_label() -> None:
    for p in PRINCIPLES:
        assert sorted(v for _, v, _ in EXAMPLES[p]) == [False, True], p


def test_the_remote_command_prints_the_table(tmp_path: Path) -> None:
    def reply(body: dict[str, object]) -> str:
        last = str(body["messages"][-1]["content"])  # type: ignore[index]
        diff = last.split("Change (unified diff):", 1)[1]
        return json.dumps({"violates": "password" in diff, "reasons": "the fake reads one word"})

    out = tmp_path / "rows.json"
    with FakeChatServer(reply=reply) as srv:
        run = subprocess.run(
            [sys.executable, str(BENCH / "judge_bench.py"), "--no-embedded", "--base-url", srv.url,
             "--model", "fake-model", "--principles", "secrets", "--json", str(out)],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    fake = [ln for ln in lines if "openai:fake-model" in ln]
    assert len(fake) == 2  # the principle's row and the total
    # "password" is in two violating changes and one compliant one.
    assert fake[0].split()[1:5] == ["8", "1/4", "2/4", "0"]
    rows = json.loads(out.read_text())
    assert len(rows["judged"]) == 8 and set(rows["static"]) == {
        c.name for c in CHANGES if c.principle == "secrets"
    }
