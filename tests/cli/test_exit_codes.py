"""Nothing lies: the installed `godel` executable, run as a script would run it, for every row of the exit-code
table in the README, and the cases where godel used to say the wrong thing (issue #13's list)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from godel.archive import open_archive
from godel.candidate import Status
from tests.helpers import EXAMPLES, write_task

pytestmark = pytest.mark.slow  # real processes, real archives

GODEL = str(Path(sys.executable).with_name("godel"))  # the console script pip installed, not `python -m`
FAST = ["--proposer", "mutate", "--allow-unsafe", "--set", "guard.enabled=false"]

PROGRAM = "# EVOLVE-BLOCK-START\nX = 1.0\n# EVOLVE-BLOCK-END\n"
EVALUATOR = "def evaluate(path):\n    ns = {}\n    exec(open(path).read(), ns)\n    return {'combined_score': -abs(ns['X'] - 3)}\n"


def run(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [GODEL, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def one_line(proc: subprocess.CompletedProcess[str]) -> str:
    """The one line an error is; progress lines a redirected run prints before it do not count."""
    # The note of a machine's first audited run (whichever test runs first) is not part of the error either.
    lines = [
        line
        for line in proc.stderr.splitlines()
        if line.strip()
        and not line.startswith(("godel: evaluating", "note: created a new audit signing key"))
    ]
    assert "Traceback" not in proc.stderr, proc.stderr
    assert len(lines) == 1, proc.stderr
    return lines[0]


def test_the_installed_executable_is_what_runs() -> None:
    assert Path(GODEL).is_file() and os.access(GODEL, os.X_OK)


def test_exit_0_a_run_that_produced_candidates(tmp_path: Path) -> None:
    task = write_task(tmp_path / "t", {"initial_program.py": PROGRAM, "evaluator.py": EVALUATOR})
    proc = run("evolve", str(task), "--iterations", "6", "--storage", f"sqlite:///{tmp_path}/a.db", *FAST)
    assert proc.returncode == 0, proc.stderr


def test_exit_1_no_valid_candidate(tmp_path: Path) -> None:
    # Every change to the program fails evaluation: the evaluator insists on the seed's exact text.
    strict = "def evaluate(path):\n    assert open(path).read().count('X = 1.0') == 1, 'changed'\n    return {'combined_score': 1.0}\n"
    task = write_task(tmp_path / "t", {"initial_program.py": PROGRAM, "evaluator.py": strict})
    url = f"sqlite:///{tmp_path}/a.db"
    proc = run("evolve", str(task), "--iterations", "4", "--storage", url, *FAST)
    assert proc.returncode == 1, proc.stderr
    assert "no proposal produced a valid, evaluated candidate" in proc.stderr
    assert f"godel list --storage {url}" in proc.stderr  # the hint repeats the user's --storage


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_exit_1_the_model_endpoint_was_down_the_whole_run(tmp_path: Path) -> None:
    task = write_task(
        tmp_path / "t",
        {
            "initial_program.py": PROGRAM,
            "evaluator.py": EVALUATOR,
            "godel.toml": (
                "[llm]\ncache = false\nretry_base_seconds = 0.01\n"
                f'[[llm.models]]\nbackend = "openai"\nmodel = "m"\nbase_url = "http://127.0.0.1:{_closed_port()}/v1"\n'
                "max_retries = 1\ntimeout_seconds = 2\n"
            ),
        },
    )
    url = f"sqlite:///{tmp_path}/a.db"
    proc = run(
        "evolve",
        str(task),
        "--iterations",
        "20",
        "--storage",
        url,
        "--proposer",
        "llm",
        "--allow-unsafe",
        "--json",
    )
    assert proc.returncode == 1, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["stopped"] == "model endpoint"
    assert summary["infrastructure_errors"] >= 3 and summary["model_endpoint_errors"] >= 3
    assert "calls in a row" in summary["stopped_reason"] and "cannot reach" in summary["stopped_reason"]
    assert "model endpoint was unreachable" in proc.stderr
    archive = open_archive(url)
    try:
        run_ = archive.latest_run()
        assert run_ is not None and run_.meta["stopped"] == "model endpoint"
        failed = [c for c in archive.candidates(run_.id) if c.iteration > 0]
        assert len(failed) < 20  # it stopped instead of spinning through the budget
        # The retry notes are stored with each failed proposal.
        assert all(c.evaluation["proposal_meta"].get("notes") for c in failed), [c.evaluation for c in failed]
    finally:
        archive.close()


@pytest.mark.parametrize(
    ("files", "args", "needle"),
    [
        ({"godel.toml": "run = 5\n"}, [], "[run] must be a table"),
        ({"godel.toml": "[run]\niterations = 'many'\n"}, [], "godel.toml: run.iterations"),
        ({}, ["--iterations", "-1"], "the command line"),
        ({}, ["--set", "run.parallel=0"], "the command line (--set and options): run.parallel"),
        ({"godel.toml": "[run]\nparallel = 0\n"}, ["--iterations", "3"], "godel.toml: run.parallel"),
    ],
)
def test_exit_2_bad_configuration_names_where_it_came_from(
    tmp_path: Path, files: dict[str, str], args: list[str], needle: str
) -> None:
    task = write_task(tmp_path / "t", {"initial_program.py": PROGRAM, "evaluator.py": EVALUATOR, **files})
    proc = run("evolve", str(task), "--storage", f"sqlite:///{tmp_path}/a.db", *FAST, *args)
    assert proc.returncode == 2 and needle in one_line(proc), proc.stderr


def test_exit_2_an_unknown_candidate_and_a_hint_with_the_users_storage(tmp_path: Path) -> None:
    task = write_task(tmp_path / "t", {"initial_program.py": PROGRAM, "evaluator.py": EVALUATOR})
    url = f"sqlite:///{tmp_path}/a.db"
    assert run("evolve", str(task), "--iterations", "2", "--storage", url, *FAST).returncode == 0
    proc = run("show", "99999", "--storage", url)
    line = one_line(proc)
    assert proc.returncode == 2 and "99999" in line and f"godel list --storage {url}" in line
    listed = json.loads(run("list", "--storage", url, "--json").stdout)
    assert [c["iteration"] for c in listed["candidates"]] == [0, 1, 2] and listed["total"] == 3


def test_exit_130_interrupted(tmp_path: Path) -> None:
    slow = "import time\ndef evaluate(path):\n    time.sleep(0.3)\n    return {'combined_score': 1.0}\n"
    task = write_task(tmp_path / "t", {"initial_program.py": PROGRAM, "evaluator.py": slow})
    proc = subprocess.Popen(
        [GODEL, "evolve", str(task), "--iterations", "500", "--storage", f"sqlite:///{tmp_path}/a.db", *FAST],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    # Wait until the run is under way (the seed evaluated), then interrupt it as Ctrl-C would.
    deadline = time.monotonic() + 120
    while not (tmp_path / "a.db").exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(2.0)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "continue with --resume" in err


def test_a_failing_seed_fails_its_run_and_resume_evaluates_it_again(tmp_path: Path) -> None:
    broken = "def evaluate(path):\n    raise RuntimeError('the data file is missing')\n"
    task = write_task(tmp_path / "t", {"initial_program.py": PROGRAM, "evaluator.py": broken})
    url = f"sqlite:///{tmp_path}/a.db"
    proc = run("evolve", str(task), "--iterations", "2", "--storage", url, *FAST)
    assert proc.returncode == 2 and "the seed program fails its own evaluation" in one_line(proc)
    archive = open_archive(url)
    run_ = archive.latest_run()
    assert run_ is not None and run_.status == "failed" and run_.meta["stopped"] == "seed failed"
    archive.close()
    (task / "evaluator.py").write_text(EVALUATOR)  # fixed
    proc = run("evolve", str(task), "--iterations", "2", "--storage", url, *FAST, "--resume")
    assert proc.returncode == 0, proc.stderr
    archive = open_archive(url)
    cands = archive.candidates(run_.id)
    assert cands[0].status == Status.OK and len(cands) == 3
    archive.close()
    # A seed whose code changed cannot be the same run's seed: said so, with the way out.
    (task / "initial_program.py").write_text(PROGRAM.replace("1.0", "2.0"))
    (task / "evaluator.py").write_text(broken)
    assert run("evolve", str(task), "--iterations", "1", "--storage", url, *FAST).returncode == 2
    (task / "evaluator.py").write_text(EVALUATOR)
    (task / "initial_program.py").write_text(PROGRAM.replace("1.0", "3.0"))
    line = one_line(run("evolve", str(task), "--iterations", "1", "--storage", url, *FAST, "--resume"))
    assert "has changed since" in line and "without --resume" in line


def test_paths_survive_redaction_and_keys_do_not(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    env = {
        "PWD": str(tmp_path),
        "OLDPWD": str(home),
        "HOME": str(home),
        "MY_SERVICE_API_KEY": "sk-live-0123456789abcdef",
    }
    missing = tmp_path / "no-such-task"
    proc = run("evolve", str(missing), cwd=tmp_path, env=env)
    assert proc.returncode == 2 and str(missing) in proc.stderr and "***" not in proc.stderr
    leak = f"def evaluate(path):\n    return {{'combined_score': 1.0, 'where': '{tmp_path}', 'k': 'sk-live-0123456789abcdef'}}\n"
    task = write_task(tmp_path / "t", {"initial_program.py": PROGRAM, "evaluator.py": leak})
    url = f"sqlite:///{tmp_path}/a.db"
    assert (
        run(
            "evolve", str(task), "--iterations", "1", "--storage", url, *FAST, cwd=tmp_path, env=env
        ).returncode
        == 0
    )
    shown: Any = json.loads(run("show", "1", "--storage", url, "--json", cwd=tmp_path, env=env).stdout)
    text = json.dumps(shown)
    assert str(tmp_path) in shown["artifacts"]["where"] and "sk-live-0123456789abcdef" not in text


def test_a_redirected_run_prints_progress_lines(tmp_path: Path) -> None:
    task = write_task(tmp_path / "t", {"initial_program.py": PROGRAM, "evaluator.py": EVALUATOR})
    proc = run(
        "evolve",
        str(task),
        "--iterations",
        "6",
        "--storage",
        f"sqlite:///{tmp_path}/a.db",
        *FAST,
        env={"GODEL_PROGRESS_SECONDS": "0"},
    )
    assert proc.returncode == 0
    lines = proc.stderr.splitlines()
    assert lines[0].startswith("godel: evaluating the seed program")
    assert any("proposal 6/6" in line and "ok " in line for line in lines), proc.stderr
    assert "6 proposals + seed" in proc.stdout


def test_example_summary_and_status_agree_on_the_count(tmp_path: Path) -> None:
    task = tmp_path / "fm"
    shutil.copytree(EXAMPLES / "function_minimization", task)
    url = f"sqlite:///{tmp_path}/a.db"
    summary = json.loads(
        run("evolve", str(task), "--iterations", "5", "--storage", url, *FAST, "--json").stdout
    )
    status = json.loads(run("status", "--storage", url, "--json").stdout)
    assert summary["proposals"] == 5 and status["total"] == 6  # 5 proposals + the seed, said the same way
    assert "5 proposals + seed" in run("status", "--storage", url).stdout


def test_one_owner_per_run_a_second_resume_is_refused(tmp_path: Path) -> None:
    slow = "import time\ndef evaluate(path):\n    time.sleep(0.5)\n    return {'combined_score': 1.0}\n"
    task = write_task(tmp_path / "t", {"initial_program.py": PROGRAM, "evaluator.py": slow})
    url = f"sqlite:///{tmp_path}/a.db"
    # Long enough (about 30 s) that the first process is still at work when the second asks for the run.
    first = subprocess.Popen(
        [GODEL, "evolve", str(task), "--iterations", "60", "--storage", url, *FAST],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if (tmp_path / "a.db").exists():
                archive = open_archive(url)
                try:
                    r = archive.latest_run()
                    if r is not None and archive.count(r.id) > 3:
                        break
                finally:
                    archive.close()
            time.sleep(0.3)
        second = run("evolve", str(task), "--iterations", "60", "--storage", url, *FAST, "--resume")
        assert first.poll() is None, "the first process ended before the second asked: make it slower"
        line = one_line(second)
        assert second.returncode == 2 and "is being run by" in line and "wait for that process" in line, line
        assert "use update_candidate" not in second.stderr
    finally:
        _, err = first.communicate(timeout=300)
    assert first.returncode == 0, err
    archive = open_archive(url)
    try:
        r = archive.latest_run()
        assert r is not None and r.status == "finished"
        evaluations = [e for e in archive.events(r.id) if e.kind == "evaluation"]
        assert len(evaluations) == len(
            {e.payload["candidate"] for e in evaluations}
        )  # nothing evaluated twice
    finally:
        archive.close()


def test_a_finished_run_verifies_and_a_tampered_one_exits_3(tmp_path: Path) -> None:
    import sqlite3

    task = write_task(tmp_path / "t", {"initial_program.py": PROGRAM, "evaluator.py": EVALUATOR})
    url = f"sqlite:///{tmp_path}/a.db"
    assert run("evolve", str(task), "--iterations", "4", "--storage", url, *FAST).returncode == 0
    assert run("audit", "verify", "--storage", url).returncode == 0  # signed at the run's end
    assert run("doctor", "--archive", url).returncode == 0
    con = sqlite3.connect(tmp_path / "a.db")
    con.execute("update candidates set score = 0.99 where iteration = 2 and score is not null")
    con.commit()
    con.close()
    assert run("audit", "verify", "--storage", url).returncode == 3
    assert run("doctor", "--archive", url).returncode == 3


@pytest.mark.parametrize(
    ("body", "settings", "setting"),
    [
        # A JAX evaluator whose native runtime floods stderr, in the shape issue 12 measured.
        ("    import sys\n    for _ in range(200_000):\n        print('[mutex.cc : 956] RAW: log', file=sys.stderr)\n",
         [], "sandbox.output_bytes"),
        ("    blocks = []\n    while True:\n        blocks.append(bytearray(8 << 20))\n",
         ["--set", "sandbox.memory_mb=64"], "sandbox.memory_mb"),
        ("    import time\n    time.sleep(30)\n", ["--set", "evaluator.timeout_seconds=1"], "evaluator.timeout_seconds"),
    ],
    ids=["output", "memory", "time"],
)  # fmt: skip
def test_a_seed_ended_by_a_sandbox_limit_names_the_setting(
    tmp_path: Path, body: str, settings: list[str], setting: str
) -> None:
    """The program is not at fault when a limit ends its evaluation: the error names the setting that raises it
    (with its value and a --set), not "fix initial_program.py or evaluator.py"."""
    evaluator = "def evaluate(path):\n" + body + "    return {'combined_score': 1.0}\n"
    task = write_task(tmp_path / "t", {"initial_program.py": PROGRAM, "evaluator.py": evaluator})
    proc = run(
        "evolve", str(task), "--iterations", "1", "--storage", f"sqlite:///{tmp_path}/a.db", *FAST, *settings
    )
    line = one_line(proc)
    assert proc.returncode == 2 and "the seed program fails its own evaluation" in line, proc.stderr
    assert f"raise {setting} (now " in line and f"--set {setting}=" in line, line
    assert "fix " not in line and line.count(f"raise {setting}") == 1, line
