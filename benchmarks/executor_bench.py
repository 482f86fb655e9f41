"""Ray overhead per evaluation over the local executor, on a trivial evaluator.

Target (scale-out issue): Ray adds <= 5 ms per evaluation over the local pool. Both executors run the same task with
the same sandbox backend (``--sandbox``); the local one in this process, the Ray one in actors of a local cluster
started for the benchmark (2 CPUs, 200 MB object store). Each is timed on N evaluations sequentially (one caller)
and concurrently (``--slots`` callers on ``--slots`` slots), in ``--rounds`` interleaved rounds so that load from
other jobs on a shared machine falls on both alike. Overhead = Ray's mean per evaluation minus the local
one's, for the same mode. Cluster start-up is excluded (paid once per run) and reported separately.

    python benchmarks/executor_bench.py [-n 200] [--sandbox unsafe-subprocess|zygote|exec] [--slots 2] [--rounds 10] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from godel.candidate import Program
from godel.executor import Executor, LocalExecutor, RayExecutor
from godel.sandbox import SandboxConfig, make_sandbox
from godel.task import Task, load_task

PROGRAM = "def f(x):\n    return x * 2\n"
EVALUATOR = """
import importlib.util

def evaluate(program_path):
    spec = importlib.util.spec_from_file_location("prog", program_path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return {"combined_score": float(mod.f(3))}
"""


def _programs(n: int) -> list[Program]:
    # Distinct programs, as in a run; the evaluator's cost does not depend on which.
    return [Program.single("initial_program.py", PROGRAM + f"# {i}\n") for i in range(n)]


def _run(ex: Executor, programs: list[Program], threads: int) -> tuple[float, list[float]]:
    lat: list[float] = []

    def one(p: Program) -> None:
        t0 = time.perf_counter()
        ev = ex.evaluate(p)
        lat.append(time.perf_counter() - t0)
        if not ev.ok:
            raise RuntimeError(f"benchmark evaluation failed: {ev.reason}")

    t0 = time.perf_counter()
    if threads == 1:
        for p in programs:
            one(p)
    else:
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(one, programs))
    return time.perf_counter() - t0, lat


def _summary(wall: float, lat: list[float]) -> dict[str, float]:
    return {
        "per_eval_ms": wall / len(lat) * 1000,  # wall time per evaluation (throughput view)
        "median_latency_ms": statistics.median(lat) * 1000,
        "p95_latency_ms": sorted(lat)[int(0.95 * (len(lat) - 1))] * 1000,
        "evals_per_s": len(lat) / wall,
    }


def bench(task: Task, config: SandboxConfig, n: int, slots: int, rounds: int) -> dict[str, Any]:
    programs = _programs(n)
    out: dict[str, Any] = {"n": n, "slots": slots, "sandbox": config.backend, "rounds": rounds}
    local = LocalExecutor(task, make_sandbox(config, slots=slots))
    t0 = time.perf_counter()
    ray_ex = RayExecutor(task, config, slots=slots, num_cpus=2, num_cpus_per_eval=2 / slots)
    try:
        for p in programs[: 2 * slots]:  # every Ray slot up, first imports and forks done, on both sides
            ray_ex.evaluate(p)
        out["ray_startup_s"] = time.perf_counter() - t0
        for p in programs[: 2 * slots]:
            local.evaluate(p)
        out["ray_sandbox"] = sorted({w["sandbox"] for w in ray_ex.workers()})
        executors: dict[str, Executor] = {"local": local, "ray": ray_ex}
        chunk = max(1, n // rounds)
        for mode, threads in (("sequential", 1), ("concurrent", slots)):
            walls = {name: 0.0 for name in executors}
            lats: dict[str, list[float]] = {name: [] for name in executors}
            # Interleaved rounds, alternating which goes first, so load changes on a shared machine hit both.
            for r in range(rounds):
                order = ["local", "ray"] if r % 2 == 0 else ["ray", "local"]
                for name in order:
                    wall, lat = _run(executors[name], programs[r * chunk : (r + 1) * chunk], threads)
                    walls[name] += wall
                    lats[name] += lat
            for name in executors:
                out[f"{name}_{mode}"] = _summary(walls[name], lats[name])
    finally:
        ray_ex.close()
        local.close()
    for mode in ("sequential", "concurrent"):
        for key in ("per_eval_ms", "median_latency_ms"):
            out[f"overhead_{mode}_{key}"] = out[f"ray_{mode}"][key] - out[f"local_{mode}"][key]
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=200, help="evaluations per measurement")
    ap.add_argument("--sandbox", default="unsafe-subprocess", help="sandbox backend for both executors")
    ap.add_argument("--slots", type=int, default=2, help="slots, and callers in the concurrent mode")
    ap.add_argument("--rounds", type=int, default=10, help="interleaved local/Ray rounds per mode")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    config = SandboxConfig(backend=args.sandbox, allow_unsafe=args.sandbox == "unsafe-subprocess")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "trivial"
        root.mkdir()
        (root / "initial_program.py").write_text(PROGRAM)
        (root / "evaluator.py").write_text(EVALUATOR)
        res = bench(load_task(root), config, args.n, args.slots, args.rounds)
    if args.json:
        print(json.dumps(res, indent=2))
        return 0
    print(f"sandbox backend: {res['sandbox']} (inside Ray workers: {', '.join(res['ray_sandbox'])})")
    print(
        f"N = {res['n']} per row in {res['rounds']} interleaved rounds, {res['slots']} slots; "
        f"Ray cluster start-up {res['ray_startup_s']:.1f} s"
    )
    print()
    print(f"{'mode':<11} {'executor':<8} {'ms/eval':>8} {'median ms':>10} {'p95 ms':>8} {'evals/s':>8}")
    for mode in ("sequential", "concurrent"):
        for ex in ("local", "ray"):
            r = res[f"{ex}_{mode}"]
            print(
                f"{mode:<11} {ex:<8} {r['per_eval_ms']:>8.2f} {r['median_latency_ms']:>10.2f} "
                f"{r['p95_latency_ms']:>8.2f} {r['evals_per_s']:>8.1f}"
            )
        print(
            f"{mode:<11} {'overhead':<8} {res[f'overhead_{mode}_per_eval_ms']:>+8.2f} "
            f"{res[f'overhead_{mode}_median_latency_ms']:>+10.2f}   (target <= 5 ms)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
