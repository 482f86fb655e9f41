"""Run pytest on a small suite in a fresh process, with godel's plugin loaded the way an installed godel loads it.

The child finds the plugin through the ``pytest11`` entry point that pyproject.toml declares: the entry point is
written into a ``.dist-info`` folder on the child's path, so the tests exercise the declared entry point (and
``-p no:godel``) even where the installed godel's metadata predates it. Where it does not, pytest loads the
plugin once all the same: a second entry point of the same name is skipped.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import ROOT

SRC = ROOT / "src"
# The plugin's settings, and what an outer xdist run sets: none may leak from the outer run into a child.
_CLEARED = (
    "PYTEST_SEED", "FREEZE_TIME", "ALLOW_NET", "GODEL_BLOCK_LOOPBACK", "GODEL_EVENTS", "GODEL_SUITE",
    "PYTEST_ADDOPTS", "PYTEST_PLUGINS", "PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_XDIST_TESTRUNUID",
    "PYTEST_CURRENT_TEST", "PYTHONHASHSEED",
)  # fmt: skip


@dataclass
class Run:
    proc: subprocess.CompletedProcess[str]
    root: Path
    env: dict[str, str]

    @property
    def output(self) -> str:
        return self.proc.stdout + self.proc.stderr

    @property
    def events_path(self) -> Path:
        return self.root / "reports" / "events.ndjson"

    def events(self) -> list[dict[str, Any]]:
        if not self.events_path.exists():
            return []
        return [json.loads(line) for line in self.events_path.read_text().splitlines()]


@pytest.fixture(scope="session")
def entry_point_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["entry-points"]["pytest11"]
    root = tmp_path_factory.mktemp("entry-point")
    info = root / "godel_plugin_entry_point-0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: godel-plugin-entry-point\nVersion: 0\n")
    (info / "entry_points.txt").write_text(
        "[pytest11]\n" + "".join(f"{name} = {target}\n" for name, target in declared.items())
    )
    return root


def child_env(entry_point_dir: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _CLEARED}
    path = [str(entry_point_dir), str(SRC), env.get("PYTHONPATH", "")]
    env["PYTHONPATH"] = os.pathsep.join(p for p in path if p)
    env.update(extra or {})
    return env


@pytest.fixture
def run_suite(tmp_path: Path, entry_point_dir: Path) -> Callable[..., Run]:
    """Write ``files`` into a fresh project folder and run ``python -m pytest`` there."""
    counter = iter(range(1000))

    def run(
        files: dict[str, str], *args: str, env: dict[str, str] | None = None, root: Path | None = None
    ) -> Run:
        where = root or tmp_path / f"suite{next(counter)}"
        where.mkdir(parents=True, exist_ok=True)
        for rel, text in files.items():
            (where / rel).parent.mkdir(parents=True, exist_ok=True)
            (where / rel).write_text(text)
        full_env = child_env(entry_point_dir, env)
        proc = subprocess.run(
            [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
            cwd=where,
            env=full_env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        return Run(proc, where, full_env)

    return run
