"""Which modules to test first: little coverage times much recent change.

``score = (1 - coverage) * churn / max_churn``: coverage from coverage.py's data (the suite is run under
``coverage run -m pytest`` when there is none), churn the lines added plus deleted in the module by the commits
of a window (``git log --numstat --since``). A module nobody touched in the window scores 0 however bare it is:
the point is to protect the code that is changing.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from godel.errors import GodelError, UsageError

__all__ = [
    "CandidateReport",
    "ModuleCandidate",
    "find_candidates",
    "git_churn",
    "is_test_file",
    "module_files",
    "run_coverage",
]

DEFAULT_SINCE = "90 days ago"
_TEST_DIRS = frozenset({"tests", "test", "testing"})
# Not code under test: environments, build output, documentation builders and packaging scripts.
_SKIP_DIRS = frozenset(
    {".git", ".venv", "venv", "build", "dist", "node_modules", "__pycache__", ".tox", ".nox", "docs", "doc"}
)
_SKIP_FILES = frozenset({"setup.py", "noxfile.py", "fabfile.py"})


@dataclass(frozen=True)
class ModuleCandidate:
    file: str
    coverage: float
    lines: int  # statements coverage.py measures
    missing: int
    churn: int
    score: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "coverage": round(self.coverage, 4),
            "lines": self.lines,
            "missing": self.missing,
            "churn": self.churn,
            "score": round(self.score, 4),
        }


@dataclass(frozen=True)
class CandidateReport:
    root: Path
    data_file: Path
    ran_coverage: bool
    since: str
    modules: int
    candidates: list[ModuleCandidate]
    skipped: list[tuple[str, str]] = field(default_factory=list)
    pytest_exit: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "root": str(self.root),
            "data_file": str(self.data_file),
            "ran_coverage": self.ran_coverage,
            "pytest_exit": self.pytest_exit,
            "since": self.since,
            "modules": self.modules,
            "candidates": [c.to_dict() for c in self.candidates],
            "skipped": [{"file": f, "reason": r} for f, r in self.skipped],
        }


def is_test_file(rel: str) -> bool:
    """A test module, conftest or anything under a tests folder: what the finder ranks is the code under test."""
    p = PurePosixPath(rel)
    if any(part in _TEST_DIRS for part in p.parts[:-1]):
        return True
    return p.name == "conftest.py" or p.name.startswith("test_") or p.name.endswith("_test.py")


def _git(root: Path, *args: str) -> str:
    try:
        proc = subprocess.run(
            ["git", "-C", str(root), *args], capture_output=True, text=True, timeout=120, check=False
        )
    except FileNotFoundError as exc:
        raise UsageError("git is not installed", hint="install git: churn comes from the history") from exc
    if proc.returncode != 0:
        raise UsageError(
            f"git {args[0]} failed in {root}: {proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else proc.returncode}",
            hint="run the finder on a folder inside a git work tree (churn comes from its history)",
        )
    return proc.stdout


def module_files(root: Path) -> list[str]:
    """The tracked Python files under ``root`` that are not tests, relative to it (posix separators)."""
    out = _git(root, "ls-files", "-z", "--", "*.py")
    files = [f for f in out.split("\0") if f]
    return sorted(
        f
        for f in files
        if not is_test_file(f)
        and not (set(PurePosixPath(f).parts[:-1]) & _SKIP_DIRS)
        and f not in _SKIP_FILES
    )


def git_churn(root: Path, since: str) -> dict[str, int]:
    """Lines added plus deleted per file under ``root`` by the commits since ``since`` (a git date)."""
    out = _git(
        root,
        "log",
        "--no-renames",
        "--numstat",
        "--relative",
        "-z",
        "--format=",
        f"--since={since}",
        "--",
        ".",
    )
    churn: dict[str, int] = {}
    for record in out.split("\0"):
        parts = record.strip("\n").split("\t")
        if len(parts) != 3 or not parts[2]:
            continue
        added, deleted, path = parts
        if added == "-" or deleted == "-":  # a binary file: no lines to count
            continue
        churn[path] = churn.get(path, 0) + int(added) + int(deleted)
    return churn


def run_coverage(root: Path, data_file: Path, pytest_args: Sequence[str] = (), timeout: float = 1800) -> int:
    """Run the suite under ``root`` with ``coverage run -m pytest``; returns pytest's exit code.

    The run gets ``PYTHONHASHSEED=0`` (a run the plugin starts is reproducible). Failing tests still leave
    coverage data; a suite that could not run at all (pytest's exit 2-5 with no data) is an error.
    """
    cmd = [
        sys.executable, "-m", "coverage", "run", f"--data-file={data_file}", f"--source={root}",
        "-m", "pytest", "-q", "-p", "no:cacheprovider", *pytest_args,
    ]  # fmt: skip
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    try:
        proc = subprocess.run(
            cmd, cwd=root, env=env, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise GodelError(
            f"the suite under coverage did not finish in {timeout:g} s",
            hint="raise --timeout, or pass --pytest-args",
        ) from exc
    if not data_file.exists():
        _combine(root, data_file)
    if not data_file.exists():
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-3:])
        raise UsageError(
            f"`coverage run -m pytest` in {root} left no coverage data (exit {proc.returncode}): {tail}",
            hint="make `python -m pytest` run in that folder, or pass --data-file to existing coverage data",
        )
    return proc.returncode


def _combine(root: Path, data_file: Path) -> None:
    # A project whose coverage config says parallel = true leaves one data file per process: merge them.
    if any(data_file.parent.glob(data_file.name + ".*")):
        subprocess.run(
            [sys.executable, "-m", "coverage", "combine", f"--data-file={data_file}"],
            cwd=root, capture_output=True, text=True, timeout=600, check=False,
        )  # fmt: skip


def _config_file(root: Path) -> str | bool:
    for name in (".coveragerc", "pyproject.toml"):
        if (root / name).is_file():
            return str(root / name)
    return False


def find_candidates(
    root: Path,
    *,
    since: str = DEFAULT_SINCE,
    top: int = 10,
    data_file: Path | None = None,
    rerun: bool = False,
    pytest_args: Sequence[str] = (),
    timeout: float = 1800,
    on_run: Callable[[Path], None] | None = None,
) -> CandidateReport:
    """The ``top`` modules under ``root`` by score (see the module's docstring), best first.

    ``on_run(root)`` is called before the suite is run under coverage (it takes a while: say so).
    """
    root = root.resolve()
    if not root.is_dir():
        raise UsageError(f"no folder {root}", hint="pass the project's folder")
    if top < 1:
        raise UsageError(f"--top {top} must be at least 1", hint="pass --top 10")
    files = module_files(root)
    churn = git_churn(root, since)
    data = (data_file or root / ".coverage").resolve()
    ran, exit_code = False, None
    if rerun or not data.exists():
        if data_file is not None and not rerun:
            raise UsageError(
                f"no coverage data at {data}", hint="drop --data-file to have the finder run the suite"
            )
        if on_run is not None:
            on_run(root)
        exit_code = run_coverage(root, data, pytest_args, timeout)
        ran = True
    try:
        import coverage
        from coverage.exceptions import CoverageException
    except ImportError as exc:
        raise UsageError(
            "the candidate finder needs coverage.py", hint="pip install 'coverage>=7.4' (godel depends on it)"
        ) from exc
    cov = coverage.Coverage(data_file=str(data), config_file=_config_file(root))
    cov.load()
    rows: list[tuple[str, float, int, int]] = []
    skipped: list[tuple[str, str]] = []
    for rel in files:
        try:
            _, statements, _, missing, _ = cov.analysis2(str(root / rel))
        except CoverageException as exc:
            skipped.append((rel, str(exc)))
            continue
        if not statements:
            continue
        rows.append((rel, 1 - len(missing) / len(statements), len(statements), len(missing)))
    peak = max((churn.get(rel, 0) for rel, *_ in rows), default=0)
    ranked = [
        ModuleCandidate(
            file=rel,
            coverage=covered,
            lines=lines,
            missing=missing,
            churn=churn.get(rel, 0),
            score=(1 - covered) * (churn.get(rel, 0) / peak if peak else 0.0),
        )
        for rel, covered, lines, missing in rows
    ]
    ranked.sort(key=lambda c: (-c.score, -c.missing, c.file))
    return CandidateReport(
        root=root,
        data_file=data,
        ran_coverage=ran,
        since=since,
        modules=len(ranked),
        candidates=ranked[:top],
        skipped=skipped,
        pytest_exit=exit_code,
    )
