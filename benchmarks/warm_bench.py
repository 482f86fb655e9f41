"""Warm-start benchmark: proposals a second run needs to reach the first run's best, cold and warm-started.

    python benchmarks/warm_bench.py [--seeds 5] [--iterations 40] [--proposer mutate] [--json]

For each seed: run A evolves function_minimization for ``--iterations`` proposals (local mutations by default); then,
at the same budget and with another seed, run B starts cold and run W starts with ``--warm-start A`` (A's EXCELLENT
and GOOD tiers, re-evaluated as W's first proposals and counted against its budget). Both go on two tasks:

* same: function_minimization itself;
* related: the same program under a changed evaluator (half the objective-call budget, other trial seeds), so A's
  candidates are a head start but their old scores do not carry over.

Printed per task: how many proposals (seed excluded) each second run needed to reach A's best score on that task
(A's best re-scored on the related task is not known, so there the target is the cold run's final best), how often
it got there at all, and its final best, median over seeds. Runs use the real sandbox when `godel doctor` finds it,
else pass ``--allow-unsafe``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from godel.archive import open_archive
from godel.candidate import Status

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "function_minimization"


def _related(tmp: Path) -> Path:
    task = tmp / "fm_related"
    shutil.copytree(EXAMPLE, task)
    ev = task / "evaluator.py"
    text = ev.read_text()
    for old, new in (
        ("MAX_CALLS = 2000", "MAX_CALLS = 1000"),
        ("random.seed(1000 + trial)", "random.seed(7000 + trial)"),
    ):
        assert old in text, f"the example's evaluator changed: {old!r} not found"
        text = text.replace(old, new)
    ev.write_text(text)
    return task


def _evolve(task: Path, url: str, name: str, seed: int, args: argparse.Namespace, *extra: str) -> None:
    cmd = [sys.executable, "-m", "godel", "evolve", str(task), "--storage", url, "--name", name, "--json"]
    cmd += ["--iterations", str(args.iterations), "--seed", str(seed), "--proposer", args.proposer, *extra]
    cmd += ["--allow-unsafe"] if args.allow_unsafe else []
    res = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if res.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} exited {res.returncode}: {res.stderr[-800:]}")


def _trace(url: str, name: str) -> list[float]:
    """The run's best-so-far score after each proposal (index 0: the seed)."""
    archive = open_archive(url)
    try:
        run = archive.get_run(name)
        best, trace = float("-inf"), []
        for cand in archive.candidates(run.id):
            if cand.status == Status.OK and cand.score is not None and not cand.flags:
                best = max(best, cand.score)
            trace.append(best)
        return trace
    finally:
        archive.close()


def _reached(trace: list[float], target: float) -> int | None:
    return next((i for i, s in enumerate(trace) if i > 0 and s >= target - 1e-12), None)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--iterations", type=int, default=40)
    ap.add_argument("--proposer", default="mutate")
    ap.add_argument("--allow-unsafe", action="store_true")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    rows: dict[str, dict[str, list[Any]]] = {}
    with tempfile.TemporaryDirectory() as tmp_s:
        tmp = Path(tmp_s)
        same = tmp / "fm"
        shutil.copytree(EXAMPLE, same)
        tasks = {"same": same, "related": _related(tmp)}
        for seed in range(1, args.seeds + 1):
            url = f"sqlite:///{tmp}/warm-{seed}.db"
            _evolve(same, url, "A", seed, args)
            best_a = _trace(url, "A")[-1]
            for label, task in tasks.items():
                _evolve(task, url, f"{label}-cold", seed + 100, args)
                _evolve(task, url, f"{label}-warm", seed + 100, args, "--warm-start", "A")
                cold, warm = _trace(url, f"{label}-cold"), _trace(url, f"{label}-warm")
                target = best_a if label == "same" else cold[-1]
                row = rows.setdefault(label, {k: [] for k in ("cold_n", "warm_n", "cold_best", "warm_best")})
                row["cold_n"].append(_reached(cold, target))
                row["warm_n"].append(_reached(warm, target))
                row["cold_best"].append(cold[-1])
                row["warm_best"].append(warm[-1])
    if args.json:
        print(json.dumps(rows, indent=2))
        return

    def med_n(xs: list[int | None]) -> str:
        got = [x for x in xs if x is not None]
        return f"{statistics.median(got):.0f} ({len(got)}/{len(xs)} reached)" if got else f"- (0/{len(xs)})"

    print(f"{args.proposer}, {args.iterations} proposals per run, {args.seeds} seeds (medians)")
    print(
        f"{'task':<8} {'cold: proposals to target':>28} {'warm: proposals to target':>28} {'cold best':>10} {'warm best':>10}"
    )
    for label, r in rows.items():
        print(
            f"{label:<8} {med_n(r['cold_n']):>28} {med_n(r['warm_n']):>28} "
            f"{statistics.median(r['cold_best']):>10.4f} {statistics.median(r['warm_best']):>10.4f}"
        )
    print("target: run A's best on 'same'; the cold run's final best on 'related'")


if __name__ == "__main__":
    main()
