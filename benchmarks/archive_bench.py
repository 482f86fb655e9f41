"""Archive throughput: candidate inserts/s (batched and one by one), event appends/s (plain, and with a signed audit
checkpoint every N events), rows() time, bytes per candidate, and the first write after opening a SQLite file
(which runs PRAGMA quick_check once).

    python benchmarks/archive_bench.py                 # SQLite and PostgreSQL (started with scripts/services)
    python benchmarks/archive_bench.py --no-postgres   # SQLite only
    python benchmarks/archive_bench.py --rows 1000000  # rows() over a million candidates

Target (core issue): >= 5,000 candidates/s batched on SQLite; rows() over 1M candidates in a few seconds.
Candidates look like an LLM run's: a ~3 KB program that differs per candidate, a diff, a ~2 KB prompt, metrics,
a verdict and stage details. PostgreSQL uses GODEL_TEST_POSTGRES_URL, else the server scripts/services starts.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from godel.archive import SQLArchive
from godel.candidate import Candidate, Program, Status
from godel.guard import AuditKey, Checkpointer

ROOT = Path(__file__).resolve().parents[1]

BASE = "".join(
    f"def step_{i}(x, y):\n    # EVOLVE-BLOCK-START\n    z = x * {i} + y\n    return z - {i} / (y + 1)\n"
    f"    # EVOLVE-BLOCK-END\n\n"
    for i in range(30)
)
PROMPT = "You are improving a program. Keep the interface. Reply with SEARCH/REPLACE blocks.\n" * 24


def make(run_id: int, it: int, parent: int | None, rng: random.Random) -> Candidate:
    k = rng.randrange(30)
    code = BASE.replace(f"z = x * {k} + y", f"z = x * {k} + y * {rng.random():.6f}")
    ok = rng.random() < 0.7
    score = rng.random() if ok else None
    return Candidate(
        run_id=run_id,
        iteration=it,
        program=Program.single("main.py", code),
        parent_id=parent,
        generation=1 if parent else 0,
        status=Status.OK if ok else Status.FAILED,
        score=score,
        reason=None if ok else "AssertionError: wrong result for input 7",
        failure_stage=None if ok else "evaluate",
        proposer="llm-diff",
        model="smollm2-135m",
        prompt=PROMPT + f"Parent score: {rng.random()}\n",
        edit=f"<<<<<<< SEARCH\n    z = x * {k} + y\n=======\n    z = x * {k} + y * 0.5\n>>>>>>> REPLACE\n",
        diff=f"--- a/main.py\n+++ b/main.py\n@@ -1,3 +1,3 @@\n-    z = x * {k} + y\n+    z = x * {k} + y * 0.5\n",
        tokens_in=900,
        tokens_out=60,
        metrics={"combined_score": score or 0.0, "runtime": rng.random(), "correct": 1.0} if ok else {},
        verdict={"decision": "allow", "reasons": []},
        evaluation={"stages": [{"stage": 1, "name": "quick", "status": "ok", "seconds": 0.2}]},
        timings={"propose": 1.5, "evaluate": 0.4},
    )


def pg_url() -> str:
    url = os.environ.get("GODEL_TEST_POSTGRES_URL")
    if url:
        return url
    out = subprocess.run(
        ["bash", str(ROOT / "scripts" / "services")], capture_output=True, text=True, check=False
    )
    if out.returncode != 0:
        sys.exit(f"scripts/services failed: {out.stderr[-2000:]}")
    return out.stdout.strip().splitlines()[-1]


def bench(
    archive: SQLArchive, n_batch: int, n_single: int, n_rows: int, batch: int, every: int
) -> dict[str, Any]:
    rng = random.Random(1)
    run = archive.create_run(f"bench-{uuid.uuid4().hex[:6]}", "bench", {})
    seed = make(run.id, 0, None, rng)
    seed.status, seed.score, seed.reason = Status.OK, 0.5, None
    archive.add_candidate(seed)
    it = 1
    cands = [make(run.id, it + i, seed.id, rng) for i in range(n_batch)]
    t, c = time.perf_counter(), time.process_time()
    for i in range(0, n_batch, batch):
        archive.add_candidates(cands[i : i + batch])
    batched = n_batch / (time.perf_counter() - t)
    batched_cpu = n_batch / (time.process_time() - c)
    it += n_batch
    singles = [make(run.id, it + i, seed.id, rng) for i in range(n_single)]
    t = time.perf_counter()
    for c in singles:
        archive.add_candidate(c)
    single = n_single / (time.perf_counter() - t)
    it += n_single
    t = time.perf_counter()
    for c in singles[:n_single]:
        c.status, c.score, c.reason = Status.OK, 0.9, None
        archive.update_candidate(c)
    update = n_single / (time.perf_counter() - t)
    t, c = time.perf_counter(), time.process_time()
    for i in range(n_single):
        archive.add_event(run.id, "evaluation", {"candidate": i, "score": 0.5, "ok": True})
    events = n_single / (time.perf_counter() - t)
    events_cpu = (time.process_time() - c) / n_single
    # The same appends with the audit's checkpointer watching them: one signed checkpoint every `every` events.
    signer = Checkpointer(archive, AuditKey(Ed25519PrivateKey.generate(), "bench"), every=every)
    t, c = time.perf_counter(), time.process_time()
    for i in range(n_single):
        signer.observe(archive.add_event(run.id, "evaluation", {"candidate": i, "score": 0.5, "ok": True}))
    signed = n_single / (time.perf_counter() - t)
    signed_cpu = (time.process_time() - c) / n_single
    # rows(): top the run up to n_rows candidates (cheap ones: only the row count matters here).
    small = Program.single("main.py", "x = 1\n")
    while it <= n_rows:
        chunk = [
            Candidate(run_id=run.id, iteration=it + j, program=small, status=Status.OK, score=rng.random())
            for j in range(min(20_000, n_rows - it + 1))
        ]
        archive.add_candidates(chunk)
        it += len(chunk)
    t, c = time.perf_counter(), time.process_time()
    rows = archive.rows(run.id)
    rows_s = time.perf_counter() - t
    rows_cpu = time.process_time() - c
    t = time.perf_counter()
    archive.best(run.id)
    best_s = time.perf_counter() - t
    return {
        "batched": batched,
        "batched_cpu": batched_cpu,
        "rows_cpu": rows_cpu,
        "single": single,
        "update": update,
        "events": events,
        "signed": signed,
        "events_cpu": events_cpu,
        "signed_cpu": signed_cpu,
        "rows_n": len(rows),
        "rows_s": rows_s,
        "best_ms": best_s * 1000,
        "run_id": run.id,
    }


def bytes_per_candidate_sqlite(path: Path, n: int) -> float:
    engine = sa.create_engine(f"sqlite:///{path}")
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        pages = conn.exec_driver_sql("PRAGMA page_count").scalar() or 0
        size = conn.exec_driver_sql("PRAGMA page_size").scalar() or 0
    engine.dispose()
    return float(pages * size) / n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batched", type=int, default=20_000, help="candidates inserted with add_candidates")
    ap.add_argument("--batch-size", type=int, default=1_000)
    ap.add_argument(
        "--single", type=int, default=2_000, help="candidates inserted one by one (also updates, events)"
    )
    ap.add_argument("--rows", type=int, default=100_000, help="candidates in the run when timing rows()")
    ap.add_argument(
        "--checkpoint-every", type=int, default=100, help="events between signed audit checkpoints"
    )
    ap.add_argument("--no-postgres", action="store_true")
    args = ap.parse_args()

    results: list[tuple[str, dict[str, Any], float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        # Bytes per realistic candidate measured on a separate file holding only those.
        size_db = Path(tmp) / "size.db"
        with SQLArchive(f"sqlite:///{size_db}") as a:
            rng = random.Random(2)
            run = a.create_run("size", "bench", {})
            a.add_candidates([make(run.id, i, None, rng) for i in range(5_000)])
        sqlite_bpc = bytes_per_candidate_sqlite(size_db, 5_000)
        with SQLArchive(f"sqlite:///{tmp}/bench.db") as a:
            r = bench(a, args.batched, args.single, args.rows, args.batch_size, args.checkpoint_every)
            results.append(("SQLite (WAL)", r, sqlite_bpc))
        # Opening the file again and writing once: the first write runs PRAGMA quick_check over the whole file.
        size_mb = Path(f"{tmp}/bench.db").stat().st_size / 1e6
        t = time.perf_counter()
        with SQLArchive(f"sqlite:///{tmp}/bench.db") as a:
            opened = time.perf_counter() - t
            t = time.perf_counter()
            a.update_run(r["run_id"], meta={"reopened": True})
            first_write = time.perf_counter() - t
            t = time.perf_counter()
            a.update_run(r["run_id"], meta={"again": True})
            second_write = time.perf_counter() - t
    if not args.no_postgres:
        base = sa.make_url(pg_url()).set(drivername="postgresql+psycopg")
        schema = f"bench_{uuid.uuid4().hex[:8]}"
        admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        url = base.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
            hide_password=False
        )
        try:
            with SQLArchive(url) as a:
                rng = random.Random(2)
                run = a.create_run("size", "bench", {})
                a.add_candidates([make(run.id, i, None, rng) for i in range(5_000)])
                with admin.connect() as conn:
                    conn.execute(sa.text(f'VACUUM ANALYZE "{schema}".candidates'))
                    total = conn.execute(
                        sa.text(f"SELECT pg_total_relation_size('\"{schema}\".candidates')")
                    ).scalar()
                pg_bpc = float(total or 0) / 5_000
                with a._engine.begin() as conn:
                    conn.execute(sa.text("TRUNCATE candidates, events, runs CASCADE"))
                pg = bench(a, args.batched, args.single, args.rows, args.batch_size, args.checkpoint_every)
                results.append(("PostgreSQL 15", pg, pg_bpc))
        finally:
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()

    head = (
        f"{'backend':<14} {'batched/s':>10} {'single/s':>9} {'update/s':>9} {'events/s':>9} {'signed/s':>9} "
        f"{'rows()':>16} {'best()':>8} {'bytes/cand':>10}"
    )
    print(head)
    print("-" * len(head))
    for name, r, bpc in results:
        rows = f"{r['rows_s']:.3f}s/{r['rows_n'] // 1000}k"
        print(
            f"{name:<14} {r['batched']:>10,.0f} {r['single']:>9,.0f} {r['update']:>9,.0f} {r['events']:>9,.0f} "
            f"{r['signed']:>9,.0f} {rows:>16} {r['best_ms']:>6.1f}ms {bpc:>10,.0f}"
        )
    print(
        "\nthis process's CPU time only (what an idle core gives when the machine is shared; the PostgreSQL"
    )
    print("server's own CPU is not counted, so only the SQLite line is comparable):")
    for name, r, _ in results:
        print(
            f"  {name:<14} batched {r['batched_cpu']:>9,.0f} candidates/CPU-s   rows() {r['rows_cpu']:.3f} CPU-s "
            f"for {r['rows_n']:,}"
        )
        print(
            f"  {'':<14} add_event {r['events_cpu'] * 1e6:>6.0f} CPU-us, with checkpoints "
            f"{r['signed_cpu'] * 1e6:>6.0f} CPU-us"
        )
    print(
        f"\nSQLite reopened ({size_mb:.0f} MB file): open {opened * 1000:.1f} ms, first write {first_write * 1000:.1f} ms "
        f"(includes PRAGMA quick_check), next write {second_write * 1000:.1f} ms"
    )
    print(f"load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(
        f"\nbatched: add_candidates in batches of {args.batch_size} ({args.batched:,} candidates, ~3 KB program + "
        "2 KB prompt each); single: add_candidate one transaction each; signed: add_event with a signed audit "
        f"checkpoint every {args.checkpoint_every} events; bytes/cand: table + indexes / candidates"
    )


if __name__ == "__main__":
    main()
