"""`godel self-improve` through the installed executable, against a local fake model: the whole loop (select,
self-modify, guard, staged evaluation, archive) deterministic under a seed, resumable after kill -9, exportable."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from godel.agents import seed_agent_dir
from godel.archive import open_archive
from godel.llm.testing import FakeChatServer
from tests.agents.conftest import reference, solver  # noqa: F401  (reference is a fixture)

pytestmark = pytest.mark.slow  # real processes, a real sandbox

GODEL = str(Path(sys.executable).with_name("godel"))


@pytest.fixture
def model(reference: dict[str, str]) -> Iterator[FakeChatServer]:  # noqa: F811
    def slow_solver(body: dict[str, object]) -> str:
        time.sleep(0.02)  # so that a kill lands in the middle of a run
        return solver(reference, lambda name, b: len(name) % 2 == 0 or float(b.get("temperature", 0)) > 0.75)(
            body
        )

    with FakeChatServer(reply=slow_solver) as srv:
        yield srv


def agent_dir(root: Path, url: str) -> Path:
    target = root / "agent"
    shutil.copytree(seed_agent_dir(), target, ignore=shutil.ignore_patterns("__pycache__"))
    toml = (target / "godel.toml").read_text()
    toml = toml.replace("stage_sizes = [10, 50, 0]", "stage_sizes = [4, 8]").replace(
        "stage_thresholds = [0.0, 0.0]", "stage_thresholds = [0.0]"
    )
    toml += f'\n[llm]\ncache = false\n\n[[llm.models]]\nbackend = "openai"\nmodel = "fake-model"\nbase_url = "{url}"\n'
    (target / "godel.toml").write_text(toml)
    return target


def run(*args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([GODEL, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout)


def history(db: Path) -> list[tuple[int, str, float | None, str | None]]:
    archive = open_archive(f"sqlite:///{db}")
    try:
        run_id = archive.latest_run().id  # type: ignore[union-attr]
        return [(c.iteration, c.status.value, c.score, c.diff) for c in archive.candidates(run_id)]
    finally:
        archive.close()


def test_a_run_is_deterministic_under_its_seed_and_exports_its_best(
    tmp_path: Path, model: FakeChatServer
) -> None:
    agent = agent_dir(tmp_path, model.url)
    results = []
    for i in (1, 2):
        db = tmp_path / f"run{i}.db"
        proc = run("self-improve", str(agent), "--iterations", "3", "--seed", "5", "--storage", f"sqlite:///{db}",
                   cwd=tmp_path)  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        assert "best score" in proc.stdout and "development problems" in proc.stderr
        results.append(history(db))
    assert results[0] == results[1]
    assert len(results[0]) == 4 and results[0][0][1] == "ok"
    assert any(c[0] > 0 and c[3] for c in results[0])  # children are the agent's own rewrites
    out = tmp_path / "best-agent"
    proc = run("self-improve", str(agent), "--export", str(out), "--storage", f"sqlite:///{tmp_path / 'run1.db'}",
               cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert (out / "agent.py").is_file() and (out / "godel_agent.py").is_file()


def test_a_run_killed_with_sigkill_resumes_to_its_budget(tmp_path: Path, model: FakeChatServer) -> None:
    agent = agent_dir(tmp_path, model.url)
    db = tmp_path / "a.db"
    args = ["self-improve", str(agent), "--iterations", "5", "--seed", "1", "--storage", f"sqlite:///{db}"]
    proc = subprocess.Popen([GODEL, *args], cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)  # fmt: skip
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if db.exists():
            try:
                if len(history(db)) >= 2:
                    break
            except Exception:  # the archive is still being created
                pass
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    before = history(db)
    assert 2 <= len(before) <= 6
    done = run(*args, "--resume", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    after = history(db)
    assert len(after) == 6 and all(c[1] in ("ok", "failed", "rejected") for c in after)
    finished = {c[0]: c[:3] for c in before if c[1] != "pending"}
    assert {c[0]: c[:3] for c in after if c[0] in finished} == finished  # nothing stored was lost or redone


def test_bad_agent_settings_fail_at_start_in_one_line(tmp_path: Path, model: FakeChatServer) -> None:
    agent = agent_dir(tmp_path, model.url)
    proc = run("self-improve", str(agent), "--set", "agent.stage_sizes=[10,5]", cwd=tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "agent.stage_sizes" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    missing = run("self-improve", str(tmp_path / "nope"), cwd=tmp_path)
    assert missing.returncode == 2 and "does not exist" in missing.stderr


def test_a_worker_joins_a_self_improvement_run(tmp_path: Path, model: FakeChatServer) -> None:
    agent = agent_dir(tmp_path, model.url)
    db = tmp_path / "w.db"
    first = run("self-improve", str(agent), "--iterations", "2", "--storage", f"sqlite:///{db}", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    joined = run("worker", str(agent), "--self-improve", "--iterations", "4", "--storage", f"sqlite:///{db}",
                 cwd=tmp_path)  # fmt: skip
    assert joined.returncode == 0, joined.stderr
    cands = history(db)
    assert len(cands) == 5 and all(c[1] in ("ok", "failed", "rejected") for c in cands)
