"""The command line as a user drives it: real processes, real archive files."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import EXAMPLES

# Each test runs the installed `godel` in real processes over real archives: seconds each.
pytestmark = pytest.mark.slow

GODEL = [sys.executable, "-m", "godel"]
FAST = ["--proposer", "mutate", "--allow-unsafe", "--set", "guard.enabled=false"]


def godel(*args: str, cwd: Path | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([*GODEL, *args], cwd=cwd, capture_output=True, text=True, timeout=300)
    if check and proc.returncode != 0:
        raise AssertionError(
            f"godel {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
        )
    return proc


def doc(*args: str, cwd: Path | None = None) -> Any:
    return json.loads(godel(*args, "--json", cwd=cwd).stdout)


def test_init_evolve_and_read_commands(tmp_path: Path) -> None:
    task = tmp_path / "mytask"
    godel("init", str(task))
    assert {p.name for p in task.iterdir()} == {"initial_program.py", "evaluator.py", "godel.toml"}
    url = f"sqlite:///{tmp_path}/run.db"
    summary = doc("evolve", str(task), "--iterations", "8", "--storage", url, *FAST)
    assert summary["candidates"] == 8 and summary["seed_score"] is not None
    status = doc("status", "--storage", url)
    assert status["total"] == 9 and status["run"]["task"] == "mytask"
    best = doc("best", "--storage", url, "--out", str(tmp_path / "best.py"))
    assert (tmp_path / "best.py").read_text() == best["files"]["initial_program.py"]
    shown = doc("show", str(best["id"]), "--storage", url)
    assert shown["id"] == best["id"] and "files" in shown and "diff" in shown
    chain = doc("lineage", str(best["id"]), "--storage", url)["lineage"]
    assert chain[0]["iteration"] == 0 and chain[-1]["id"] == best["id"]
    # a plain-text read works too
    assert "run mytask" in godel("status", "--storage", url).stdout


def test_try_reports_each_file(tmp_path: Path) -> None:
    task = tmp_path / "fm"
    shutil.copytree(EXAMPLES / "function_minimization", task)
    good = tmp_path / "good.py"
    good.write_text((task / "initial_program.py").read_text().replace("iterations=60", "iterations=400"))
    bad = tmp_path / "bad.py"
    bad.write_text(
        (task / "initial_program.py").read_text().replace("evaluate_function(x, y)\n", "nope(x)\n", 1)
    )
    url = f"sqlite:///{tmp_path}/try.db"
    result = doc("try", str(task), str(good), str(bad), "--storage", url, "--allow-unsafe")
    by = {Path(c["file"]).name: c for c in result["candidates"]}
    assert by["good.py"]["status"] == "ok" and by["good.py"]["score"] > 0
    assert by["bad.py"]["status"] == "failed" and "undefined name 'nope'" in by["bad.py"]["reason"]


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["evolve", "/nonexistent/task"], "does not exist"),
        (["status", "--storage", "sqlite:////nonexistent/dir/x.db"], "no archive"),
        (["evolve", str(EXAMPLES / "function_minimization"), "--set", "run.iterations=-3"], "run.iterations"),
        (["evolve", str(EXAMPLES / "function_minimization"), "--set", "bogus.key=1"], "bogus"),
    ],
)
def test_user_errors_are_one_clear_line(args: list[str], needle: str) -> None:
    proc = godel(*args, check=False)
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and needle in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr


def test_unknown_candidate(tmp_path: Path) -> None:
    task = tmp_path / "t"
    godel("init", str(task))
    url = f"sqlite:///{tmp_path}/u.db"
    # One mutation may fail its evaluation (exit 1); the run exists either way.
    assert godel(
        "evolve", str(task), "--iterations", "1", "--storage", url, *FAST, check=False
    ).returncode in (0, 1)
    proc = godel("show", "99999", "--storage", url, check=False)
    assert proc.returncode == 2 and "99999" in proc.stderr


def _count(db: Path) -> int:
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)
        try:
            return int(con.execute("select count(*) from candidates where status != 'pending'").fetchone()[0])
        finally:
            con.close()
    except sqlite3.Error:
        return 0


def _trace(url: str) -> list[tuple[Any, ...]]:
    from godel.archive import open_archive

    archive = open_archive(url)
    run = archive.latest_run()
    assert run is not None
    out = [
        (c.iteration, c.parent_id, c.program.digest(), c.status.value, c.score)
        for c in archive.candidates(run.id)
    ]
    archive.close()
    return out


@pytest.mark.slow
@pytest.mark.parametrize("kill_after", [2, 9, 17])
def test_kill_9_then_resume_loses_nothing(tmp_path: Path, kill_after: int) -> None:
    task = tmp_path / "fm"
    shutil.copytree(EXAMPLES / "function_minimization", task)
    args = ["evolve", str(task), "--iterations", "24", "--seed", "5", *FAST]
    whole = f"sqlite:///{tmp_path}/whole.db"
    godel(*args, "--storage", whole)
    db = tmp_path / "killed.db"
    url = f"sqlite:///{db}"
    proc = subprocess.Popen(
        [*GODEL, *args, "--storage", url],
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while _count(db) < kill_after and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    before = _count(db)
    assert 0 < before < 25, "the run should have been killed mid-way"
    godel(*args, "--storage", url, "--resume")
    after = _trace(url)
    iterations = [t[0] for t in after]
    assert iterations == sorted(set(iterations)) == list(range(25))
    assert all(t[3] != "pending" for t in after)
    # Candidate ids differ between archives; compare everything else.
    assert [t[:1] + t[2:] for t in after] == [t[:1] + t[2:] for t in _trace(whole)]


def test_any_value_of_a_read_commands_options_fails_cleanly(tmp_path: Path) -> None:
    """Random values for every option of the read commands, in-process: an exit code and one line, never a crash."""
    from hypothesis import given
    from hypothesis import settings as hsettings
    from hypothesis import strategies as st
    from typer.testing import CliRunner

    from godel.cli import app
    from godel.errors import GodelError

    task = tmp_path / "t"
    godel("init", str(task))
    url = f"sqlite:///{tmp_path}/r.db"
    godel("evolve", str(task), "--iterations", "2", "--storage", url, *FAST, check=False)
    runner = CliRunner()
    junk = st.text(
        alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=12
    )

    @hsettings(max_examples=80, deadline=None)
    @given(
        command=st.sampled_from(["status", "list", "best", "show", "lineage", "events"]),
        run_value=st.one_of(st.none(), junk, st.integers(-5, 10).map(str)),
        extra=st.lists(st.sampled_from(["--json", "--status", "--limit"]), max_size=2),
        value=junk,
    )
    def check(command: str, run_value: str | None, extra: list[str], value: str) -> None:
        args = [command, "--storage", url]
        if command in ("show", "lineage"):
            args.insert(1, value or "1")
        elif run_value is not None:
            args += ["--run", run_value]
        for opt in extra:
            args += [opt] if opt == "--json" else [opt, value]
        result = runner.invoke(app, args)
        exc = result.exception
        assert exc is None or isinstance(exc, SystemExit | GodelError), (args, repr(exc))

    check()


@pytest.mark.parametrize(
    "args",
    [
        ["status", "--run", "¹"],
        ["show", "¹"],
        ["lineage", "¹"],
        [
            "status",
            "--run",
            "٣",
        ],  # an Arabic-Indic three is a decimal int() reads: run 3, which does not exist
    ],
)
def test_ids_that_are_digits_but_not_numbers_are_refused_in_one_line(tmp_path: Path, args: list[str]) -> None:
    from godel.archive import open_archive

    url = f"sqlite:///{tmp_path}/ids.db"
    archive = open_archive(url)
    archive.create_run("only", "task", {})
    archive.close()
    res = godel(*args, "--storage", url, check=False)
    assert res.returncode == 2, res.stderr
    assert "Traceback" not in res.stderr and len(res.stderr.strip().splitlines()) == 1
