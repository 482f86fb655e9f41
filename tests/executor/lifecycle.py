"""Run in a fresh process by test_ray_lifecycle.py (the Ray driver connection is per process).

``python -m tests.executor.lifecycle own DIR``: an executor starts its own cluster, evaluates, closes; prints the
cluster's process ids before and after close.
``python -m tests.executor.lifecycle gone DIR``: an executor joins a cluster, which then dies mid-run; prints what
the next evaluation raised and how long it took.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from godel.errors import SandboxError
from godel.executor import LocalRayCluster, RayExecutor
from tests.executor.support import OK, UNSAFE, make_task


def _alive(pids: list[int]) -> list[int]:
    out = []
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_bytes().rsplit(b")", 1)[1].split()[0]
        except OSError:
            continue
        if state != b"Z":  # zombies are dead; this machine's PID 1 reaps them late
            out.append(pid)
    return out


def own(root: Path) -> dict[str, object]:
    ex = RayExecutor(make_task(root), UNSAFE, slots=1, num_cpus=1)
    assert ex.cluster is not None
    score = ex.evaluate(OK).score
    pids = ex.cluster.pids()
    temp_dir = ex.cluster.temp_dir
    ex.close()
    deadline = time.monotonic() + 10
    while _alive(pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    return {
        "score": score,
        "pids": pids,
        "alive_after_close": _alive(pids),
        "temp_dir_left": temp_dir.exists(),
    }


def gone(root: Path) -> dict[str, object]:
    cluster = LocalRayCluster(num_cpus=1)
    ex = RayExecutor(
        make_task(root),
        UNSAFE,
        slots=1,
        address=cluster.address,
        retries=1,
        backoff_seconds=0.05,
        start_timeout=3,
    )
    score = ex.evaluate(OK).score
    cluster.stop()  # every process of the cluster, workers included, dies here
    t0 = time.monotonic()
    try:
        ev = ex.evaluate(OK, label="candidate 3")
        raised = {"type": None, "ok": ev.ok, "score": ev.score}
    except SandboxError as exc:
        raised = {"type": "SandboxError", "message": str(exc)}
    seconds = time.monotonic() - t0
    t1 = time.monotonic()
    ex.close()
    return {
        "score": score,
        "address": cluster.address,
        "raised": raised,
        "seconds": seconds,
        "close_seconds": time.monotonic() - t1,
    }


if __name__ == "__main__":
    mode, root = sys.argv[1], Path(sys.argv[2])
    print("RESULT " + json.dumps(own(root) if mode == "own" else gone(root)), flush=True)
