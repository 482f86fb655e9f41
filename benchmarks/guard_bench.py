"""Guard benchmark: check time per proposal over the corpus (p50/p99), detection and false-positive rates.

Run: ``python benchmarks/guard_bench.py [--rounds N]``. Each corpus program is checked against its seed with a guard
that has already seen the seed (as in a run, where a parent has many children); the first, cold check of each
program is reported separately.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.guard.corpus_util import child_of, entries, make_tasks  # noqa: E402

from godel.guard import ConstitutionGate, GuardConfig  # noqa: E402


def _pct(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, round(q * (len(s) - 1)))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rounds", type=int, default=20, help="checks per corpus program")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tasks = make_tasks(Path(tmp))
        guards = {k: ConstitutionGate(GuardConfig(), t.root, task=t) for k, t in tasks.items()}
        rows = []
        for kind in ("hacks", "legit"):
            cold: list[float] = []
            warm: list[float] = []
            cpu: list[float] = []
            stopped = 0
            items = entries(kind)
            for e in items:
                task, guard = tasks[e.parent], guards[e.parent]
                child = child_of(task, e)
                t0 = time.perf_counter()
                v = guard.check(task, task.program, child, None)
                cold.append(time.perf_counter() - t0)
                stopped += v.decision != "allow"
                for _ in range(args.rounds):
                    # a fresh text each round so the parse cache cannot answer: what a new proposal costs
                    fresh = type(child)({p: t + f"\n# round {_}\n" for p, t in child.files.items()})
                    t0, c0 = time.perf_counter(), time.thread_time()
                    guard.check(task, task.program, fresh, None)
                    warm.append(time.perf_counter() - t0)
                    cpu.append(time.thread_time() - c0)
            rows.append((kind, len(items), stopped, cold, warm, cpu))
    print(
        f"{'corpus':8} {'n':>4} {'stopped':>8} {'rate':>7} {'cold p50':>9} {'p50 ms':>7} {'p99 ms':>7} "
        f"{'cpu p50':>8} {'cpu p99':>8}"
    )
    for kind, n, stopped, cold, warm, cpu in rows:
        print(
            f"{kind:8} {n:4d} {stopped:8d} {stopped / n:7.1%} {statistics.median(cold) * 1e3:9.2f} "
            f"{_pct(warm, 0.5) * 1e3:7.2f} {_pct(warm, 0.99) * 1e3:7.2f} "
            f"{_pct(cpu, 0.5) * 1e3:8.2f} {_pct(cpu, 0.99) * 1e3:8.2f}"
        )
    print(
        "(wall = elapsed time, cpu = this thread's CPU time: the gap is time the OS gave to other processes)"
    )
    hacks, legit = rows[0], rows[1]
    print(
        f"\ndetection rate {hacks[2] / hacks[1]:.1%} ({hacks[2]}/{hacks[1]}), "
        f"false-positive rate {legit[2] / legit[1]:.1%} ({legit[2]}/{legit[1]}); target: check <= 5 ms per proposal"
    )


if __name__ == "__main__":
    main()
