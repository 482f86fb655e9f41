"""``godel tests events`` and ``godel tests candidates`` through the installed executable."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from godel.pytest_plugin import make_event
from godel.pytest_plugin._events import EventWriter

pytestmark = pytest.mark.slow  # real processes

GODEL = str(Path(sys.executable).with_name("godel"))
ENV = {"PYTHONHASHSEED": "random", "FREEZE_TIME": "0", "ALLOW_NET": "0", "GODEL_BLOCK_LOOPBACK": "0"}


def godel(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k != "GODEL_EVENTS"}
    return subprocess.run(
        [GODEL, *args], cwd=cwd, capture_output=True, text=True, timeout=600, env={**clean, **(env or {})}
    )


def one_line_error(proc: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    return lines[0]


def _write(path: Path, *events: dict[str, object]) -> None:
    writer = EventWriter(path)
    for e in events:
        writer.write(e)
    writer.close()


def _event(test_id: str, ts: float, message: str = "boom") -> dict[str, object]:
    return make_event(
        ts=ts, suite="s", test_id=test_id, file=test_id.split("::")[0], error_class="ValueError", message=message,
        stack="trace", seed=1337, env=ENV, phase="call",
    )  # fmt: skip


def test_events_grouped_by_signature(tmp_path: Path) -> None:
    path = tmp_path / "reports" / "events.ndjson"
    _write(
        path,
        _event("t.py::test_a", 1_700_000_000),
        _event("t.py::test_b", 1_700_000_010, "other"),
        _event("t.py::test_a", 1_700_000_200),
        _event("t.py::test_a", 1_700_000_100),
    )
    with path.open("a") as f:
        f.write('{"torn": \n')
    proc = godel("tests", "events", "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert (doc["events"], doc["malformed"]) == (4, 1)
    first, second = doc["groups"]
    assert (first["test_id"], first["count"], second["test_id"], second["count"]) == (
        "t.py::test_a",
        3,
        "t.py::test_b",
        1,
    )
    assert (first["first_seen"], first["last_seen"]) == (
        "2023-11-14T22:13:20.000Z",
        "2023-11-14T22:16:40.000Z",
    )
    assert first["repro_cmd"] == "PYTEST_SEED=1337 PYTHONHASHSEED=0 pytest -q t.py::test_a"
    assert "1 line(s)" in proc.stderr  # the torn line is said, not hidden
    text = godel("tests", "events", cwd=tmp_path)
    assert text.returncode == 0
    assert "4 failure event(s)" in text.stdout and "3x" in text.stdout and first["repro_cmd"] in text.stdout


def test_events_file_from_the_environment_or_an_option(tmp_path: Path) -> None:
    path = tmp_path / "elsewhere.ndjson"
    _write(path, _event("t.py::test_a", 1_700_000_000))
    for proc in (
        godel("tests", "events", "--json", cwd=tmp_path, env={"GODEL_EVENTS": str(path)}),
        godel("tests", "events", "--json", "--path", str(path), cwd=tmp_path),
    ):
        assert proc.returncode == 0 and json.loads(proc.stdout)["events"] == 1


def test_no_events_yet_and_a_wrong_path(tmp_path: Path) -> None:
    proc = godel("tests", "events", "--json", cwd=tmp_path)
    assert proc.returncode == 0 and json.loads(proc.stdout)["groups"] == []
    assert "no failures recorded" in godel("tests", "events", cwd=tmp_path).stdout
    proc = godel("tests", "events", "--path", "nope.ndjson", cwd=tmp_path)
    assert proc.returncode == 2
    assert (
        one_line_error(proc)
        == "error: no events file at nope.ndjson (fix: pass --path to the file pytest wrote)"
    )


MODULE = "def f{i}(x):\n    if x > 0:\n        return x + {i}\n    return -x\n\n"


def _git(root: Path, *args: str) -> None:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.invalid"}  # fmt: skip
    subprocess.run(
        ["git", "-c", "commit.gpgsign=false", *args], cwd=root, env=env, check=True, capture_output=True
    )


def _commit(root: Path, files: dict[str, str], message: str) -> None:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", message)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A git project: ``hot`` barely tested and often changed, ``full`` tested and often changed, ``cold`` not
    tested and written once."""
    root = tmp_path / "proj"
    root.mkdir()
    _git(root, "init", "-q")
    hot = "".join(MODULE.format(i=i) for i in range(6))
    _commit(root, {
        "pkg/__init__.py": "",
        "pkg/hot.py": hot,
        "pkg/full.py": MODULE.format(i=0),
        "pkg/cold.py": MODULE.format(i=0),
        "tests/test_pkg.py": "from pkg.hot import f0\nfrom pkg.full import f0 as g\n\n"
                             "def test_it():\n    assert f0(1) == 1 and f0(-2) == 2\n    assert g(1) == 1 and g(-1) == 1\n",
    }, "start")  # fmt: skip
    for n in range(3):
        _commit(
            root,
            {"pkg/hot.py": hot + f"X = {n}\n" * (n + 5), "pkg/full.py": MODULE.format(i=0) + f"Y = {n}\n"},
            f"c{n}",
        )
    return root


def test_candidates_rank_low_coverage_times_churn(project: Path) -> None:
    proc = godel("tests", "candidates", str(project), "--json", cwd=project)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["ran_coverage"] is True and (project / ".coverage").exists()
    rows = {c["file"]: c for c in doc["candidates"]}
    assert doc["candidates"][0]["file"] == "pkg/hot.py"
    assert "tests/test_pkg.py" not in rows and doc["modules"] == 3  # pkg/__init__.py has no statements
    assert set(rows["pkg/hot.py"]) == {"file", "coverage", "lines", "missing", "churn", "score"}
    assert rows["pkg/full.py"]["coverage"] == 1.0 and rows["pkg/full.py"]["score"] == 0
    assert 0 < rows["pkg/hot.py"]["coverage"] < 0.9 and rows["pkg/hot.py"]["score"] > 0.3
    assert rows["pkg/cold.py"]["coverage"] == 0.0
    assert rows["pkg/hot.py"]["churn"] > rows["pkg/cold.py"]["churn"] > 0
    peak = max(c["churn"] for c in doc["candidates"])
    for c in doc["candidates"]:
        assert c["score"] == pytest.approx((1 - c["coverage"]) * c["churn"] / peak, abs=1e-3)
    again = godel("tests", "candidates", str(project), "--json", "--top", "1", cwd=project)
    doc = json.loads(again.stdout)
    assert doc["ran_coverage"] is False and [c["file"] for c in doc["candidates"]] == ["pkg/hot.py"]
    text = godel("tests", "candidates", str(project), cwd=project)
    assert text.returncode == 0 and "pkg/hot.py" in text.stdout.splitlines()[2]


def test_candidates_user_errors(tmp_path: Path, project: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    proc = godel("tests", "candidates", str(plain), cwd=tmp_path)
    assert proc.returncode == 2 and "git" in one_line_error(proc)
    proc = godel("tests", "candidates", str(project), "--top", "0", cwd=tmp_path)
    assert proc.returncode == 2 and "--top" in one_line_error(proc)
    proc = godel("tests", "candidates", str(tmp_path / "missing"), cwd=tmp_path)
    assert proc.returncode == 2 and "no folder" in one_line_error(proc)
    proc = godel("tests", "candidates", str(project), "--data-file", str(tmp_path / "none"), cwd=tmp_path)
    assert proc.returncode == 2 and "no coverage data" in one_line_error(proc)
