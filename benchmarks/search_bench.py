"""The search yardstick (issue 17): which parent selection beats independent sampling from the seed, task by task.

    nice python benchmarks/search_bench.py                         # 8 tasks x 5 selectors x 5 seeds x 40 evaluations
    python benchmarks/search_bench.py --iterations 200 --seeds 0,1,2,3,4
    python benchmarks/search_bench.py --tasks partition,disk_cover --selectors best-of-n,greedy --proposers mutate,mix
    python benchmarks/search_bench.py --json results.json         # also keep every run's figures

Every run is a real ``godel evolve`` (the CLI, the zygote sandbox, a fresh SQLite archive) with the same budget of
proposals (``--iterations``), selector set with ``--set selector.name=...``. The model proposers (``llm``, ``mix``)
are optional: the embedded model takes seconds per proposal on two cores.

Normalised improvement of a run: ``(best - seed) / (ceiling - seed)``, where ``ceiling`` is the task's best possible
(or best known) score, 1.0 for every task here but ``timed_kernel``, whose score (a speed-up) has no ceiling: there
it is ``(best - seed) / seed``. 0 is no improvement, 1 reaching the ceiling. Reported per task and selector: the median
over seeds and the interquartile range (IQR, the 25th to 75th percentile, linear interpolation); the last rows count
the tasks where a selector's median is strictly above best-of-n's (the baseline) and the median of the per-task
medians.

Tasks: the two examples, and the small ones under benchmarks/tasks (symbolic regression on fixed data, a disk
covering with a strict validator, an autocorrelation-inequality construction, a 3-machine partition puzzle, an online
bin-packing heuristic, and a kernel scored by its runtime).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

# task -> (folder, ceiling of its score or None when it has none)
TASKS: dict[str, tuple[Path, float | None]] = {
    "function_minimization": (ROOT / "examples" / "function_minimization", 1.0),
    "circle_packing": (ROOT / "examples" / "circle_packing", 1.0),
    "symbolic_regression": (ROOT / "benchmarks" / "tasks" / "symbolic_regression", 1.0),
    "disk_cover": (ROOT / "benchmarks" / "tasks" / "disk_cover", 1.0),
    "autocorrelation": (ROOT / "benchmarks" / "tasks" / "autocorrelation", 1.0),
    "partition": (ROOT / "benchmarks" / "tasks" / "partition", 1.0),
    "bin_packing": (ROOT / "benchmarks" / "tasks" / "bin_packing", 1.0),
    "timed_kernel": (ROOT / "benchmarks" / "tasks" / "timed_kernel", None),
}
SELECTORS = ("best-of-n", "dgm", "greedy", "islands", "map-elites")


def normalised(seed: float, best: float, ceiling: float | None) -> float:
    if ceiling is None:
        return (best - seed) / abs(seed) if seed else 0.0
    return (best - seed) / (ceiling - seed) if ceiling > seed else 0.0


def run(
    task: str, selector: str, proposer: str, seed: int, iterations: int, extra: list[str]
) -> dict[str, Any]:
    folder, ceiling = TASKS[task]
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [
            sys.executable,
            "-m",
            "godel",
            "evolve",
            str(folder),
            "--storage",
            f"sqlite:///{tmp}/bench.db",
            "--proposer",
            proposer,
            "--seed",
            str(seed),
            "--iterations",
            str(iterations),
            "--set",
            f"selector.name={selector}",
            *extra,
            "--json",
        ]
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        wall = time.perf_counter() - t0
    base = {"task": task, "selector": selector, "proposer": proposer, "seed": seed, "seconds": round(wall, 2)}
    if proc.returncode not in (0, 1) or not proc.stdout.strip():
        return {**base, "error": (proc.stderr.strip() or proc.stdout.strip())[-300:]}
    doc = json.loads(proc.stdout)
    seed_score, best = doc["seed_score"], doc["best_score"]
    if seed_score is None:
        return {**base, "error": "the seed did not evaluate"}
    best = seed_score if best is None else max(best, seed_score)
    return {
        **base,
        "seed_score": seed_score,
        "best_score": best,
        "improvement": normalised(seed_score, best, ceiling),
        "ok": doc["ok"],
        "failed": doc["failed"],
        "rejected": doc["rejected"],
    }


def quartiles(values: list[float]) -> tuple[float, float, float]:
    if len(values) == 1:
        return values[0], values[0], values[0]
    q1, q2, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return q1, q2, q3


def table(rows: list[dict[str, Any]], tasks: list[str], selectors: list[str], proposer: str) -> str:
    lines = [f"proposer {proposer}: median normalised improvement [IQR] over seeds", ""]
    lines.append("| task | " + " | ".join(selectors) + " |")
    lines.append("| --- |" + " --- |" * len(selectors))
    medians: dict[str, dict[str, float]] = {s: {} for s in selectors}
    for task in tasks:
        cells = []
        for sel in selectors:
            got = [
                r["improvement"]
                for r in rows
                if r["task"] == task
                and r["selector"] == sel
                and r["proposer"] == proposer
                and "improvement" in r
            ]
            errors = sum(
                1
                for r in rows
                if r["task"] == task and r["selector"] == sel and r["proposer"] == proposer and "error" in r
            )
            if not got:
                cells.append(f"errors: {errors}")
                continue
            q1, q2, q3 = quartiles(got)
            medians[sel][task] = q2
            cells.append(f"{q2:.3f} [{q1:.3f}, {q3:.3f}]" + (f" ({errors} errors)" if errors else ""))
        lines.append(f"| {task} | " + " | ".join(cells) + " |")
    base = medians.get("best-of-n", {})
    wins = []
    for sel in selectors:
        shared = [t for t in medians[sel] if t in base]
        wins.append(f"{sum(1 for t in shared if medians[sel][t] > base[t])}/{len(shared)}")
    lines.append("| tasks above best-of-n | " + " | ".join(wins) + " |")
    overall = [f"{statistics.median(m.values()):.3f}" if m else "-" for m in medians.values()]
    lines.append("| median of task medians | " + " | ".join(overall) + " |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tasks", default=",".join(TASKS))
    ap.add_argument("--selectors", default=",".join(SELECTORS))
    ap.add_argument("--proposers", default="mutate", help="mutate, and optionally llm and mix (slow)")
    ap.add_argument("--seeds", default="0,1,2,3,4")
    ap.add_argument("--iterations", type=int, default=40, help="proposals per run (the evaluation budget)")
    ap.add_argument(
        "--set", dest="overrides", action="append", default=[], help="extra config override for every run"
    )
    ap.add_argument("--json", type=Path, default=None, help="write every run's figures to this file")
    args = ap.parse_args()
    tasks = args.tasks.split(",")
    selectors = args.selectors.split(",")
    proposers = args.proposers.split(",")
    unknown = [t for t in tasks if t not in TASKS]
    if unknown:
        sys.exit(f"unknown tasks {unknown}; known: {', '.join(TASKS)}")
    extra = [a for o in args.overrides for a in ("--set", o)]
    rows: list[dict[str, Any]] = []
    t0 = time.perf_counter()
    for proposer in proposers:
        for task in tasks:
            for sel in selectors:
                for seed in (int(s) for s in args.seeds.split(",")):
                    r = run(task, sel, proposer, seed, args.iterations, extra)
                    rows.append(r)
                    print(
                        f"{task:22} {sel:10} {proposer:6} seed {seed}: "
                        + (
                            f"error {r['error']}"
                            if "error" in r
                            else f"{r['seed_score']:.4f} -> {r['best_score']:.4f} ({r['improvement']:+.3f})"
                        )
                        + f" {r['seconds']}s",
                        file=sys.stderr,
                        flush=True,
                    )
    if args.json is not None:
        args.json.write_text(json.dumps(rows, indent=2))
    print(
        f"{args.iterations} proposals per run, seeds {args.seeds}, {time.perf_counter() - t0:.0f} s in all\n"
    )
    for proposer in proposers:
        print(table(rows, tasks, selectors, proposer))
        print()


if __name__ == "__main__":
    main()
