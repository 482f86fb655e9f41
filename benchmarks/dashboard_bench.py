"""Dashboard responsiveness on a 100,000-candidate SQLite archive, and the metrics scrape time.

    python benchmarks/dashboard_bench.py [--candidates 100000] [--db PATH] [--keep]

Builds the archive with ``add_candidates`` batches (real small programs, diffs against the parent, a random tree,
~70% ok / 20% failed / 8% rejected, a few flagged and awaiting approval, one event per candidate), then times, through
the real app (FastAPI TestClient, no network): the first page (index HTML + every request the page makes on load,
cold caches), each API endpoint warm, and a ``/metrics`` scrape. Targets: first page < 1 s, scrape < 50 ms.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

from fastapi.testclient import TestClient

from godel.archive import open_archive
from godel.candidate import Candidate, Program, Status, unified_diff
from godel.dashboard.web import create_app
from godel.telemetry import ArchiveCollector, Telemetry, render_metrics

TEMPLATE = '''"""Candidate {i}."""

import math


def search_algorithm(iterations={it}, bounds=(-5.0, {b:.3f})):
    best = None
    for k in range(iterations):
        x = math.sin(k * {c:.4f}) * bounds[1]
        if best is None or x < best:
            best = x
    return best
'''


def build(path: Path, n: int, seed: int = 1) -> tuple[str, int]:
    rng = random.Random(seed)
    url = f"sqlite:///{path}"
    archive = open_archive(url)
    run = archive.create_run("bench", "function_minimization", {"run": {"iterations": n}})
    programs: list[Program] = []
    ids: list[int] = []
    batch: list[Candidate] = []
    t0 = time.perf_counter()
    for i in range(n):
        prog = Program.single(
            "p.py", TEMPLATE.format(i=i, it=rng.randint(10, 200), b=rng.uniform(1, 9), c=rng.random())
        )
        parent = None if i == 0 else rng.randrange(max(0, i - 2000), i)  # a bushy, deep tree
        r = rng.random()
        status = (
            Status.OK
            if r < 0.7 or i == 0
            else Status.FAILED
            if r < 0.9
            else Status.REJECTED
            if r < 0.98
            else (Status.AWAITING_APPROVAL)
        )
        flagged = status == Status.OK and rng.random() < 0.002
        score = rng.gauss(i / n, 0.1) if status == Status.OK else None
        c = Candidate(
            run_id=run.id,
            iteration=i,
            program=prog,
            parent_id=None,
            generation=0,
            status=status,
            score=score,
            reason=None if status in (Status.OK, Status.AWAITING_APPROVAL) else "evaluate: ValueError",
            failure_stage=None if status in (Status.OK, Status.AWAITING_APPROVAL) else "evaluate",
            proposer="mutate" if i else "seed",
            flags=["holdout gap"] if flagged else [],
            metrics={"combined_score": score} if score is not None else {},
            diff=unified_diff(programs[parent], prog) if parent is not None else None,
            timings={"evaluate": rng.uniform(0.05, 0.5)},
            created_at=time.time(),
        )
        c.parent_id = parent  # index into ids, fixed below once the parent's id is known
        programs.append(prog)
        batch.append(c)
        if len(batch) == 2000 or i == n - 1:
            for cand in batch:
                if cand.parent_id is not None:
                    cand.generation = 1  # generations are only displayed; depth comes from parent links
                    cand.parent_id = ids[cand.parent_id] if cand.parent_id < len(ids) else None
            ids.extend(archive.add_candidates(batch))
            batch = []
    for i in range(0, n, 1):  # one event per candidate, like the engine's evaluation events
        if i % 20000 == 0:
            sys.stderr.write(f"  events {i}/{n}\n")
        archive.add_event(run.id, "evaluation", {"candidate": ids[i], "iteration": i})
    archive.close()
    sys.stderr.write(f"built {n} candidates in {time.perf_counter() - t0:.1f} s\n")
    return url, run.id


def timed(fn, repeat: int = 5) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), max(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--candidates", type=int, default=100_000)
    ap.add_argument("--db", type=Path, default=None)
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    db = args.db or Path(tempfile.mkdtemp()) / "bench.db"
    if db.exists():
        url, run_id = f"sqlite:///{db}", 1
    else:
        url, run_id = build(db, args.candidates)
    archive = open_archive(url)
    n = archive.count(run_id)
    app = create_app(archive)  # starts loading the newest run's rows in the background
    client = TestClient(app)

    def get(path: str) -> None:
        r = client.get(path)
        assert r.status_code == 200, (path, r.status_code, r.text[:200])

    page = [
        "/",
        "/static/app.js",
        "/static/style.css",
        "/api/config",
        "/api/runs",
        f"/api/runs/{run_id}/summary",
        f"/api/runs/{run_id}/scores",
        f"/api/runs/{run_id}/lineage",
        f"/api/runs/{run_id}/review",
        f"/api/runs/{run_id}/candidates?limit=20&sort=score",
        f"/api/runs/{run_id}/events?since={n - 50}&limit=50",
    ]
    t = time.perf_counter()
    for p in page:
        get(p)
    first = time.perf_counter() - t
    rows = [("first page at server start (cold)", first, first, "")]
    # What a user sees: the server warms the newest run while the browser opens (a fresh app, same archive).
    t_warm = time.perf_counter()
    app2 = create_app(archive)
    client2 = TestClient(app2)
    app2.state.view.warmed.wait(120)
    warm_s = time.perf_counter() - t_warm
    t = time.perf_counter()
    for p in page:
        r = client2.get(p)
        assert r.status_code == 200
    first_warm = time.perf_counter() - t
    rows.append(("first page after warm-up", first_warm, first_warm, "< 1 s"))
    t = time.perf_counter()
    for p in page:
        get(p)
    rows.append(("page again, warm", time.perf_counter() - t, time.perf_counter() - t, ""))
    for label, path in [
        ("summary (live poll)", f"/api/runs/{run_id}/summary"),
        ("scores", f"/api/runs/{run_id}/scores"),
        ("lineage (top 1500)", f"/api/runs/{run_id}/lineage"),
        ("lineage focus", f"/api/runs/{run_id}/lineage?focus=5000&limit=300"),
        ("candidates page 200", f"/api/runs/{run_id}/candidates?limit=50&offset=10000&sort=score"),
        ("review queue", f"/api/runs/{run_id}/review"),
        ("candidate detail", "/api/candidates/77777"),
        ("events page", f"/api/runs/{run_id}/events?since=50000&limit=100"),
    ]:
        med, worst = timed(lambda path=path: get(path))
        rows.append((label, med, worst, ""))
    Telemetry(run="bench").llm_call("m", 10, 10, 0.1)
    med, worst = timed(lambda: get("/metrics"), repeat=10)
    rows.append(("/metrics (app, archive gauges)", med, worst, "< 50 ms"))
    collector = ArchiveCollector(archive)
    render_metrics([collector])  # the first call finds the newest event and counts flagged rows once
    med, worst = timed(lambda: render_metrics([collector]), repeat=10)
    rows.append(("scrape, standalone collector", med, worst, "< 50 ms"))
    med, worst = timed(lambda: render_metrics(), repeat=20)
    rows.append(("scrape, engine metrics only", med, worst, "< 50 ms"))
    print(f"\ndashboard benchmark: {n} candidates, {url} (warm-up took {warm_s:.2f} s)\n")
    print(f"{'measure':<34} {'median ms':>10} {'max ms':>10}  target")
    for label, med, worst, target in rows:
        print(f"{label:<34} {med * 1000:>10.1f} {worst * 1000:>10.1f}  {target}")
    archive.close()
    if not args.keep and args.db is None:
        db.unlink()


if __name__ == "__main__":
    main()
