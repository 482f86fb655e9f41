"""Engine throughput: candidates/s with local mutations and a trivial evaluator, per sandbox backend.

Target (core issue): >= 100 candidates/s on 2 cores, evaluator work excluded. The evaluator here does no work (it
returns a number derived from the program's length), so what is measured is the loop itself: selection, mutation,
edit checks, guard, archive writes, and one sandboxed evaluation per candidate.

    python benchmarks/engine_bench.py [--iterations N] [--backends zygote,unsafe-subprocess] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from godel.archive import open_archive
from godel.engine import Engine
from godel.propose import MutationProposer
from godel.sandbox import make_sandbox
from godel.select import make_selector
from godel.task import load_task

PROGRAM = """
# EVOLVE-BLOCK-START
def f(x):
    a = 1.5
    b = 2
    for i in range(10):
        x = x * a + b
    return x if x > 0 else -x
# EVOLVE-BLOCK-END
"""
EVALUATOR = """
def evaluate(program_path):
    with open(program_path) as fh:
        return {"combined_score": 1.0 / (1 + abs(len(fh.read()) - 150))}
"""


def bench(backend: str, iterations: int, parallel: int, guard: bool) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "trivial"
        root.mkdir()
        (root / "initial_program.py").write_text(PROGRAM)
        (root / "evaluator.py").write_text(EVALUATOR)
        task = load_task(
            root,
            [
                f"run.iterations={iterations}",
                f"run.parallel={parallel}",
                "proposer.kind='mutate'",
                f"sandbox.backend='{backend}'",
                "sandbox.allow_unsafe=true",
                f"guard.enabled={'true' if guard else 'false'}",
            ],
        )
        sandbox = make_sandbox(task.config.sandbox, slots=parallel)
        guard_obj = None
        if guard:
            from godel.guard import make_guard

            guard_obj = make_guard(task.config.guard, task)
        engine = Engine(
            task,
            open_archive(f"sqlite:///{tmp}/bench.db"),
            proposer=MutationProposer(task.config.proposer),
            selector_factory=lambda: make_selector(task.config.selector),
            sandbox=sandbox,
            guard=guard_obj,
        )
        t0 = time.perf_counter()
        summary = engine.run()
        wall = time.perf_counter() - t0
        sandbox.close()
        archive = open_archive(f"sqlite:///{tmp}/bench.db")
        cands = archive.candidates(summary.run_id)
        eval_s = sum(c.timings.get("evaluate", 0.0) for c in cands)
        archive.close()
        # Evaluation time spread over the parallel slots is what "evaluator work excluded" removes.
        loop_only = max(wall - eval_s / parallel, 1e-9)
        return {
            "backend": backend,
            "guard": guard,
            "parallel": parallel,
            "candidates": len(cands) - 1,
            "wall_s": round(wall, 3),
            "candidates_per_s": round((len(cands) - 1) / wall, 1),
            "eval_ms_mean": round(1000 * eval_s / max(len(cands), 1), 2),
            "candidates_per_s_excl_eval": round((len(cands) - 1) / loop_only, 1),
            "ok": summary.progress.ok,
            "failed": summary.progress.failed,
            "rejected": summary.progress.rejected,
        }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--iterations", type=int, default=400)
    ap.add_argument("--parallel", type=int, default=2)
    ap.add_argument("--backends", default="zygote,unsafe-subprocess")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    rows = []
    for backend in args.backends.split(","):
        for guard in (False, True):
            try:
                rows.append(bench(backend, args.iterations, args.parallel, guard))
            except Exception as exc:
                rows.append({"backend": backend, "guard": guard, "error": str(exc)})
    if args.json:
        json.dump(rows, sys.stdout, indent=2)
        return
    cols = [
        "backend",
        "guard",
        "parallel",
        "candidates",
        "wall_s",
        "candidates_per_s",
        "eval_ms_mean",
        "candidates_per_s_excl_eval",
        "ok",
        "failed",
        "rejected",
    ]
    print(" | ".join(cols))
    for r in rows:
        if "error" in r:
            print(f"{r['backend']} | {r['guard']} | error: {r['error']}")
        else:
            print(" | ".join(str(r[c]) for c in cols))


if __name__ == "__main__":
    main()
