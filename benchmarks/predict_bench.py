"""Outcome-predictor benchmark: evaluations saved and improvements lost on a fixed replay of recorded runs.

    python benchmarks/predict_bench.py [--tasks ...] [--seeds 0,1] [--iterations 80] [--proposer mutate]
        [--skip-below 0.05,0.1] [--explore 0.1] [--record-only] [--json]

Recording: every (task, seed) is a real `godel evolve` run (CLI, sandbox, SQLite), kept under
~/.cache/godel-bench/predict/ so later replays are of the same runs. Replay: the candidates that reached evaluation,
in iteration order; for each the predictor (trained only on what it would have seen evaluated so far) predicts, and
decides skip or evaluate; an evaluated one (or an explored skip) teaches it its outcome. Reported per task:

* evaluations: candidates that reached the sandbox in the recorded run;
* saved: those the predictor would have skipped (the share of evaluations saved);
* improvements: new bests of the recorded run (a child that raised the run's best), and how many of them a skip
  would have lost; also children that beat their parent, and how many of those were lost;
* p99 inference time.

A replay cannot say what a skipped candidate's children would have done (the run would have gone elsewhere): the
figures are what the predictor would have saved and lost on the recorded trajectories.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from godel.archive import open_archive
from godel.learn import OutcomePredictor, outcome_of

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from search_bench import TASKS  # noqa: E402

CACHE = Path.home() / ".cache" / "godel-bench" / "predict"


def record(task: str, seed: int, iterations: int, proposer: str) -> Path:
    db = CACHE / f"{task}-{proposer}-s{seed}-i{iterations}.db"
    if db.exists():
        return db
    CACHE.mkdir(parents=True, exist_ok=True)
    part = db.with_suffix(".part")
    part.unlink(missing_ok=True)
    folder = TASKS[task][0]
    cmd = [sys.executable, "-m", "godel", "evolve", str(folder), "--storage", f"sqlite:///{part}",
           "--proposer", proposer, "--seed", str(seed), "--iterations", str(iterations), "--json"]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode not in (0, 1):
        raise SystemExit(f"recording {task} seed {seed} failed: {proc.stderr.strip()[-400:]}")
    part.rename(db)
    return db


def replay(db: Path, skip_below: float, explore: float, seed: int) -> dict[str, Any]:
    archive = open_archive(f"sqlite:///{db}")
    try:
        info = archive.latest_run()
        assert info is not None
        cands = archive.candidates(info.id)
    finally:
        archive.close()
    by_id = {c.id: c for c in cands}
    pred = OutcomePredictor(skip_below=skip_below, explore=explore, seed=seed)
    seed_cand = cands[0]
    if seed_cand.score is not None:
        pred.seen_score(seed_cand.score)
    best = seed_cand.score if seed_cand.score is not None else float("-inf")
    evaluations = saved = new_bests = lost_bests = better = lost_better = 0
    times: list[float] = []
    for c in cands[1:]:
        parent = by_id.get(c.parent_id) if c.parent_id is not None else None
        if parent is None:
            continue
        outcome = outcome_of(c, parent)
        if outcome is None:
            continue  # stopped before the sandbox (precheck, guard, duplicate): nothing to save
        evaluations += 1
        p = pred.predict(parent, c.program, c.diff or "", c.proposer)
        times.append(p.seconds)
        skipped = p.skip and not p.explored
        is_new_best = outcome.ok and c.score is not None and c.score > best
        if is_new_best:
            new_bests += 1
            best = c.score  # type: ignore[assignment]
        better += outcome.improved
        if skipped:
            saved += 1
            lost_bests += is_new_best
            lost_better += outcome.improved
        else:
            pred.observe(parent, c)
    times.sort()
    return {
        "evaluations": evaluations,
        "saved": saved,
        "new_bests": new_bests,
        "lost_bests": lost_bests,
        "better": better,
        "lost_better": lost_better,
        "p99_ms": 1000 * times[min(len(times) - 1, int(0.99 * len(times)))] if times else 0.0,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tasks", default=",".join(TASKS))
    ap.add_argument("--seeds", default="0,1")
    ap.add_argument("--iterations", type=int, default=80)
    ap.add_argument("--proposer", default="mutate")
    ap.add_argument("--skip-below", default="0.02,0.05,0.1")
    ap.add_argument("--explore", type=float, default=0.1)
    ap.add_argument("--record-only", action="store_true")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    tasks = [t for t in args.tasks.split(",") if t]
    seeds = [int(s) for s in args.seeds.split(",") if s]
    dbs: dict[str, list[Path]] = {}
    t0 = time.monotonic()
    for task in tasks:
        for seed in seeds:
            dbs.setdefault(task, []).append(record(task, seed, args.iterations, args.proposer))
    if args.record_only:
        print(
            f"recorded {sum(len(v) for v in dbs.values())} runs in {time.monotonic() - t0:.0f} s under {CACHE}"
        )
        return
    rows = []
    for threshold in [float(x) for x in args.skip_below.split(",") if x]:
        for task, paths in dbs.items():
            parts = [replay(db, threshold, args.explore, i) for i, db in enumerate(paths)]
            row: dict[str, Any] = {"task": task, "skip_below": threshold}
            for key in ("evaluations", "saved", "new_bests", "lost_bests", "better", "lost_better"):
                row[key] = sum(p[key] for p in parts)
            row["p99_ms"] = max(p["p99_ms"] for p in parts)
            rows.append(row)
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    print(f"outcome predictor on recorded runs ({args.proposer}, {args.iterations} proposals, seeds {args.seeds}; "
          f"explore {args.explore})")  # fmt: skip
    head = f"{'task':<22}{'skip<':>6}{'evals':>7}{'saved':>13}{'new bests lost':>16}{'better lost':>14}{'p99 ms':>8}"
    print(head)
    for threshold in sorted({r["skip_below"] for r in rows}):
        sub = [r for r in rows if r["skip_below"] == threshold]
        for r in [*sub, _total(sub, threshold)]:
            saved = f"{r['saved']} ({100 * r['saved'] / max(1, r['evaluations']):.0f}%)"
            lost = f"{r['lost_bests']}/{r['new_bests']}"
            lb = f"{r['lost_better']}/{r['better']}"
            print(
                f"{r['task']:<22}{threshold:>6g}{r['evaluations']:>7}{saved:>13}{lost:>16}{lb:>14}{r['p99_ms']:>8.3f}"
            )
        print()


def _total(rows: list[dict[str, Any]], threshold: float) -> dict[str, Any]:
    total: dict[str, Any] = {"task": "all", "skip_below": threshold}
    for key in ("evaluations", "saved", "new_bests", "lost_bests", "better", "lost_better"):
        total[key] = sum(r[key] for r in rows)
    total["p99_ms"] = max((r["p99_ms"] for r in rows), default=0.0)
    total["median_saved"] = (
        statistics.median(r["saved"] / max(1, r["evaluations"]) for r in rows) if rows else 0
    )
    return total


if __name__ == "__main__":
    main()
