"""Real archives for the telemetry and dashboard tests: a short engine run plus hand-placed review cases."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from godel.archive import open_archive
from godel.candidate import Candidate, Status, unified_diff
from godel.engine import Engine
from godel.propose import MutationProposer
from godel.sandbox import SubprocessSandbox
from godel.select import make_selector
from godel.task import load_task
from godel.telemetry import Telemetry
from tests.helpers import EXAMPLES

SECRET = "sk-proj-DashboardSecret0123456789abcdef"


def build_run_archive(root: Path, iterations: int = 12) -> tuple[str, int]:
    """Run the engine (local mutations, real subprocesses) and add one candidate awaiting approval and one flagged
    candidate, as the guard would. Returns (archive URL, run id)."""
    task_dir = root / "function_minimization"
    shutil.copytree(EXAMPLES / "function_minimization", task_dir)
    task = load_task(
        task_dir,
        [f"run.iterations={iterations}", "proposer.kind='mutate'", "guard.enabled=false", "run.parallel=2"],
    )
    url = f"sqlite:///{root}/run.db"
    archive = open_archive(url)
    tel = Telemetry(run="fixture")
    engine = Engine(
        task,
        archive,
        proposer=MutationProposer(task.config.proposer),
        selector_factory=lambda: make_selector(task.config.selector),
        sandbox=SubprocessSandbox(),
        on_progress=tel.progress,
        on_event=tel.event,
    )
    summary = engine.run()
    run_id = summary.run_id
    best = archive.best(run_id)
    assert best is not None and best.id is not None
    n = archive.count(run_id)
    path = best.program.main_path
    text = best.program.files[path]
    supervised = best.program.replace(path, text + "\nimport subprocess  # wants a shell\n")
    cheat = best.program.replace(path, text + f"\n# key: {SECRET}\n")
    now = time.time()
    waiting = Candidate(
        run_id=run_id,
        iteration=n,
        program=supervised,
        parent_id=best.id,
        generation=best.generation + 1,
        status=Status.AWAITING_APPROVAL,
        reason="awaiting approval: imports subprocess",
        proposer="mutate",
        diff=unified_diff(best.program, supervised),
        verdict={"decision": "require_approval", "reasons": ["imports subprocess"]},
        created_at=now,
    )
    flagged = Candidate(
        run_id=run_id,
        iteration=n + 1,
        program=cheat,
        parent_id=best.id,
        generation=best.generation + 1,
        status=Status.OK,
        score=(best.score or 0.0) + 100.0,
        proposer="mutate",
        diff=unified_diff(best.program, cheat),
        flags=[f"score jump with token={SECRET}"],
        metrics={"combined_score": (best.score or 0.0) + 100.0},
        created_at=now,
        updated_at=now,
    )
    for c in (waiting, flagged):
        archive.add_candidate(c)
        archive.add_event(
            run_id, "proposal", {"candidate": c.id, "iteration": c.iteration, "parent": best.id}
        )
    archive.close()
    return url, run_id


# A stand-alone CLI with only the commands under test (the lead mounts the same `register` functions in godel.cli).
CLI = """
import sys
import typer
from pathlib import Path
from godel.archive import open_archive
from godel.errors import ArchiveError, GodelError
from godel.cli._dashboard import register as register_dashboard
from godel.cli._events import register as register_events

def open_fn(storage):
    url = storage or "sqlite:///godel.db"
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
        raise ArchiveError(f"no archive at {url}", hint="pass --storage")
    return open_archive(url)

app = typer.Typer()
register_events(app, open_fn)
register_dashboard(app, open_fn)
try:
    app(standalone_mode=False)
except GodelError as exc:
    sys.stderr.write(f"error: {exc}\\n")
    sys.exit(2 if exc.user_error else 1)
"""
