"""``godel evolve --mode tests`` end to end: the real CLI in a subprocess, the real sandbox, a real SQLite archive,
on the small package of conftest.py; hand-written candidates (``--proposer dir``) so each gate is met on purpose."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.testkit.conftest import CALC, write

SRC = str(Path(__file__).resolve().parents[2] / "src")


def godel(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": SRC}
    return subprocess.run(
        [sys.executable, "-m", "godel", *args], capture_output=True, text=True, env=env, timeout=900
    )


def candidates(db: str) -> dict[int, dict[str, Any]]:
    done = godel("list", "--storage", db, "--json")
    assert done.returncode == 0, done.stderr
    return {c["iteration"]: c for c in json.loads(done.stdout)["candidates"]}


def evolve(project: Path, cands: Path, db: str, n: int, *more: str) -> subprocess.CompletedProcess[str]:
    return godel(
        "evolve", str(project), "--mode", "tests", "--proposer", "dir", "--iterations", str(n),
        "--set", f"tests.candidates={cands}", "--storage", db, "--json", *more,
    )  # fmt: skip


def test_stage_a_gates(project: Path, tmp_path: Path) -> None:
    cands = tmp_path / "cands"
    write(
        cands,
        {
            "1good/tests/test_sign.py": """\
                from calc import sign

                def test_sign():
                    assert sign(5) == 1
                    assert sign(-2) == -1
                    assert sign(0) == 0
                """,
            "2noassert/tests/test_counter.py": """\
                from calc import Counter

                def test_counter():
                    Counter(3).bump(2)
                """,
            # Passes on its first run only (it leaves a mark beside itself).
            "3flaky/tests/test_flaky.py": """\
                from pathlib import Path
                from calc import clamp

                def test_high():
                    mark = Path(__file__).with_name("ran-once")
                    first = not mark.exists()
                    mark.write_text("x")
                    assert first
                    assert clamp(50, 0, 10) == 10
                """,
            "4prod/calc.py": CALC.replace("return a + b", "return b + a"),
        },
    )
    db = f"sqlite:///{tmp_path / 'a.db'}"
    # The constitution would hold the flaky test for approval (it writes a file); off, so the flake gate decides.
    done = evolve(project, cands, db, 4, "--set", "guard.enabled=false")
    assert done.returncode == 0, done.stderr
    got = candidates(db)
    assert got[1]["status"] == "ok"
    assert got[1]["score"] > got[0]["score"]
    assert got[2]["status"] == "failed" and "gate kills_mutant" in got[2]["reason"]
    assert got[3]["status"] == "failed" and "gate no_flakes" in got[3]["reason"]
    assert got[4]["status"] == "failed" and "gate scope" in got[4]["reason"] and "calc.py" in got[4]["reason"]

    shown = godel("show", str(got[1]["id"]), "--storage", db)
    assert shown.returncode == 0, shown.stderr
    assert "pass coverage_rises" in shown.stdout and "pass kills_mutant" in shown.stdout
    patch = tmp_path / "patch"
    best = godel("best", "--storage", db, "--out", str(patch))
    assert best.returncode == 0, best.stderr
    assert sorted(p.relative_to(patch).as_posix() for p in patch.rglob("*") if p.is_file()) == [
        "changes.patch",
        "tests/test_sign.py",
    ]
    assert not (project / "tests" / "test_sign.py").exists()  # nothing written into the user's tree


def test_stage_b_gates(project: Path, tmp_path: Path) -> None:
    write(
        project,
        {
            "tests/test_more.py": """\
                from calc import Counter, clamp, sign

                def test_more():
                    assert clamp(50, 0, 10) == 10 and clamp(5, 0, 10) == 5
                    assert [sign(3), sign(-3), sign(0)] == [1, -1, 0]
                    c = Counter(1)
                    assert c.bump() == 2 and c.bump(3) == 5
                """
        },
    )
    helper = "".join(f"\n\ndef _helper_{i}():\n    return {i}\n" for i in range(12))
    cands = tmp_path / "cands"
    write(
        cands,
        {
            "1api/calc.py": CALC.replace(
                "def add(a, b):\n    return a + b", "def add(a, b, c=0):\n    return a + b + c"
            ),
            "2lines/calc.py": CALC + helper,
            "3ok/calc.py": CALC.replace(
                "    if x < low:\n        return low\n    if x > high:\n        return high\n    return x",
                "    return max(low, min(x, high))",
            ),
        },
    )
    db = f"sqlite:///{tmp_path / 'b.db'}"
    done = evolve(project, cands, db, 3, "--set", "tests.stage=B")
    assert done.returncode == 0, done.stderr
    got = candidates(db)
    assert got[1]["status"] == "failed" and "gate api" in got[1]["reason"] and "add" in got[1]["reason"]
    assert got[2]["status"] == "failed" and "gate lines" in got[2]["reason"]
    assert got[3]["status"] == "ok", got[3]["reason"]


def test_stage_b_needs_baseline(project: Path, tmp_path: Path) -> None:
    done = godel(
        "evolve", str(project), "--mode", "tests", "--iterations", "1", "--storage", f"sqlite:///{tmp_path / 'c.db'}",
        "--set", "tests.stage=B", "--set", "tests.coverage_baseline=0.9",
    )  # fmt: skip
    assert done.returncode != 0
    assert "tests.coverage_baseline" in done.stderr
