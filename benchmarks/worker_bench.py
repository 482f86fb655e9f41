"""Scale-out: candidates/s with 1 and 2 `godel worker` processes on PostgreSQL and SQLite.

The evaluator burns 50 ms of CPU per candidate, so 2 workers on 2 cores can at best double the throughput.
Target (scale-out issue): 2 workers on PostgreSQL >= 1.6x one worker.

    python benchmarks/worker_bench.py [--iterations 60] [--cpu-ms 50] [--json]

PostgreSQL comes from $GODEL_TEST_POSTGRES_URL (scripts/services starts one); each measurement uses a fresh schema.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import sqlalchemy as sa

PROGRAM = "# EVOLVE-BLOCK-START\nX = 1.0\nY = 2\n# EVOLVE-BLOCK-END\n"
EVALUATOR = """
import importlib.util, time

def evaluate(path):
    end = time.process_time() + {cpu}
    while time.process_time() < end:
        pass
    spec = importlib.util.spec_from_file_location("p", path)
    m = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(m)
    return {{"combined_score": -abs(m.X - 3.0) - abs(m.Y - 5)}}
"""


def _pg_url(base: str) -> tuple[str, str]:
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    url = sa.make_url(base).set(drivername="postgresql+psycopg")
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    engine.dispose()
    return url.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(False), schema


def measure(task: Path, url: str, workers: int, iterations: int) -> dict[str, Any]:
    cmd = [
        sys.executable,
        "-m",
        "godel",
        "worker",
        str(task),
        "--storage",
        url,
        "--proposer",
        "mutate",
        "--parallel",
        "1",
        "--iterations",
        str(iterations),
        "--json",
    ]
    t0 = time.perf_counter()
    first = subprocess.Popen([*cmd, "--id", "w0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    procs = [first]
    if workers > 1:
        time.sleep(0.3)
        procs += [
            subprocess.Popen(
                [*cmd, "--id", f"w{i}"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            )
            for i in range(1, workers)
        ]
    outs = [p.communicate() for p in procs]
    wall = time.perf_counter() - t0
    for p, (_out, err) in zip(procs, outs, strict=True):
        if p.returncode != 0:
            raise RuntimeError(err[-500:])
    return {
        "workers": workers,
        "candidates": iterations,
        "wall_s": round(wall, 2),
        "candidates_per_s": round(iterations / wall, 2),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--iterations", type=int, default=120)
    ap.add_argument("--cpu-ms", type=float, default=50.0)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        task = Path(tmp) / "cpu_task"
        task.mkdir()
        (task / "initial_program.py").write_text(PROGRAM)
        (task / "evaluator.py").write_text(EVALUATOR.format(cpu=args.cpu_ms / 1000))
        backends: list[tuple[str, Any]] = [("sqlite", None)]
        if os.environ.get("GODEL_TEST_POSTGRES_URL"):
            backends.insert(0, ("postgresql", os.environ["GODEL_TEST_POSTGRES_URL"]))
        for name, base in backends:
            single = None
            for workers in (1, 2):
                url = _pg_url(base)[0] if base else f"sqlite:///{tmp}/{uuid.uuid4().hex}.db"
                row = {"archive": name, **measure(task, url, workers, args.iterations)}
                single = single or row["candidates_per_s"]
                row["speedup"] = round(row["candidates_per_s"] / single, 2)
                rows.append(row)
    if args.json:
        json.dump(rows, sys.stdout, indent=2)
        return
    cols = ["archive", "workers", "candidates", "wall_s", "candidates_per_s", "speedup"]
    print(" | ".join(cols))
    for r in rows:
        print(" | ".join(str(r[c]) for c in cols))


if __name__ == "__main__":
    main()
