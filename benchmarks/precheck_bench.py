"""Precheck benchmark: what each static check costs per proposal, and what it saves on a real model run.

    python benchmarks/precheck_bench.py [--storage sqlite:////tmp/precheck_llm.db] [--iterations 40] [--seed 0]
                                        [--parallel 1] [--rounds 3] [--json]

1. Yield. A real run of function_minimization with the embedded model,

       godel evolve examples/function_minimization --proposer llm --iterations 40 --parallel 1 \\
           --storage URL --set guard.enabled=false

   which this script starts when the archive at ``--storage`` holds no run yet (the embedded model takes seconds per
   proposal on one core; its replies are cached, so a second run replays them fast). Every check of
   ``DEFAULT_PRECHECKS`` is replayed on every proposal the run evaluated, against the parent it was made from: how
   many it would have stopped before the sandbox, how many of those the sandbox then failed anyway (an evaluation
   saved) and how many it passed (a false rejection: must be 0). Proposals whose syntax tree equals an earlier
   candidate's (``normalized_digest``; the text digest let them through) are counted as duplicates, with whether
   their evaluation gave the original's score. Then the fraction of the run's evaluations the checks would save.
2. Cost. Each check, the whole chain and ``normalized_digest`` timed per call (p50/p99, wall and CPU) on the run's
   proposals and on MutationProposer children of both examples, every call on fresh text (a comment appended to
   parent and child) so no cache answers: what a new proposal costs. The chain is also timed with the parent
   already cached (as in a run, where a parent was an earlier child or the seed) and with the garbage collector
   paused (to show what its full collections add to the tail).
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from godel.archive import open_archive
from godel.candidate import Candidate, Program, Status
from godel.precheck import DEFAULT_PRECHECKS, normalized_digest
from godel.propose import MutationProposer, ProposalContext
from godel.task import Task, load_task

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


def _pct(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, round(q * (len(s) - 1)))]


def record_run(url: str, iterations: int, seed: int, parallel: int) -> None:
    """Run the embedded model on a copy of the example (the run writes nothing into the repository)."""
    with tempfile.TemporaryDirectory() as tmp:
        task_dir = Path(tmp) / "function_minimization"
        shutil.copytree(EXAMPLES / "function_minimization", task_dir)
        cmd = [
            sys.executable,
            "-m",
            "godel",
            "evolve",
            str(task_dir),
            "--proposer",
            "llm",
            "--iterations",
            str(iterations),
            "--seed",
            str(seed),
            "--parallel",
            str(parallel),
            "--storage",
            url,
            "--set",
            "guard.enabled=false",
        ]
        print("recording a run:", " ".join(cmd[2:]), file=sys.stderr)
        proc = subprocess.run(cmd, check=False, capture_output=True, text=True)
        if proc.returncode not in (0, 1):
            raise SystemExit(f"godel evolve failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")


@dataclass
class Yield:
    stopped: int = 0
    failed_anyway: int = 0  # the sandbox failed it too: an evaluation saved
    passed: int = 0  # the sandbox passed it: a false rejection
    examples: list[str] = field(default_factory=list)


def replay(task: Task, cands: list[Candidate]) -> dict[str, Any]:
    by_id = {c.id: c for c in cands}
    evaluated = [
        c
        for c in cands
        if c.parent_id is not None and (c.status == Status.OK or c.failure_stage == "evaluate")
    ]
    evaluated_ids = {c.id for c in evaluated}
    before = [c for c in cands if c.parent_id is not None and c.id not in evaluated_ids]
    checks: dict[str, Yield] = {check.__name__: Yield() for check in DEFAULT_PRECHECKS}
    chain = Yield()
    saved: set[int] = set()
    for cand in evaluated:
        parent = by_id[cand.parent_id]
        first = True
        for check in DEFAULT_PRECHECKS:
            reason = check(task, parent.program, cand.program)
            if reason is None:
                continue
            for y in (checks[check.__name__], chain) if first else (checks[check.__name__],):
                y.stopped += 1
                if cand.status == Status.OK:
                    y.passed += 1
                    y.examples.append(f"FALSE REJECTION of candidate {cand.id}: {reason}")
                else:
                    y.failed_anyway += 1
                    if len(y.examples) < 2:
                        y.examples.append(f"candidate {cand.id}: {reason[:160]}")
            first = False
        if not first and cand.status != Status.OK:
            assert cand.id is not None
            saved.add(cand.id)
    # Reformatted duplicates: an evaluated proposal whose tree equals an earlier candidate's.
    first_seen: dict[str, Candidate] = {}
    duplicates: list[tuple[Candidate, Candidate]] = []
    for cand in sorted(cands, key=lambda c: c.iteration):
        digest = normalized_digest(cand.program)
        original = first_seen.get(digest)
        if original is not None and cand.id in evaluated_ids and cand.program != original.program:
            duplicates.append((cand, original))
        first_seen.setdefault(digest, cand)
    same_score = sum(
        1 for d, o in duplicates if d.status == o.status and (d.score == o.score or d.reason == o.reason)
    )
    saved_by_dups = {d.id for d, _o in duplicates if d.id is not None} - saved
    return {
        "proposals": len(cands) - 1,
        "stopped_already": len(before),
        "evaluated": len(evaluated),
        "evaluated_failed": sum(1 for c in evaluated if c.status != Status.OK),
        "checks": {name: vars(y) for name, y in checks.items()},
        "chain": vars(chain),
        "duplicates": len(duplicates),
        "duplicates_same_result": same_score,
        "saved": len(saved) + len(saved_by_dups),
        "saved_fraction": (len(saved) + len(saved_by_dups)) / max(1, len(evaluated)),
        "false_rejections": chain.passed,
    }


def _fresh(program: Program, n: int) -> Program:
    return Program({p: f"{t}\n# bench {n}\n" for p, t in program.files.items()})


def _pairs(task: Task, count: int, seed: int) -> list[tuple[Program, Program]]:
    proposer = MutationProposer()
    rng = random.Random(seed)
    pool, out = [task.program], []
    for i in range(count * 3):
        if len(out) == count:
            break
        parent = rng.choice(pool)
        cand = Candidate(run_id=0, iteration=0, program=parent, id=1, status=Status.OK, score=0.5)
        prop = proposer.propose(ProposalContext(task=task, parent=cand, iteration=i + 1), rng)
        if prop.program is not None:
            out.append((parent, prop.program))
            pool.append(prop.program)
    return out


def cost(samples: list[tuple[Task, Program, Program]], rounds: int) -> list[dict[str, Any]]:
    def chain(task: Task, parent: Program, child: Program) -> str | None:
        for check in DEFAULT_PRECHECKS:
            reason = check(task, parent, child)
            if reason is not None:
                return reason
        return None

    # (what, function, parent cached as in a run, garbage collector paused while timing)
    timed: list[tuple[str, Callable[[Task, Program, Program], object], bool, bool]] = [
        *((c.__name__, c, False, False) for c in DEFAULT_PRECHECKS),
        ("all checks, in order", chain, False, False),
        ("  the parent cached", chain, True, False),
        ("  the collector paused", chain, False, True),
        ("normalized_digest", lambda _t, _p, child: normalized_digest(child), False, False),
        ("Program.digest (baseline)", lambda _t, _p, child: child.digest(), False, False),
    ]
    rows = []
    n = 0
    for name, fn, parent_cached, paused in timed:
        wall: list[float] = []
        cpu: list[float] = []
        for _round in range(rounds):
            for task, parent, child in samples:
                n += 1
                p, c = (parent if parent_cached else _fresh(parent, n)), _fresh(child, n)
                if parent_cached:
                    # the parent was the child of an earlier proposal (or the seed): judged, so cached, already
                    fn(task, Program(dict.fromkeys(p.files, "")), p)
                if paused:
                    gc.disable()
                t0, c0 = time.perf_counter(), time.thread_time()
                fn(task, p, c)
                wall.append(time.perf_counter() - t0)
                cpu.append(time.thread_time() - c0)
                gc.enable()
        rows.append(
            {
                "what": name,
                "calls": len(wall),
                "p50_us": _pct(wall, 0.5) * 1e6,
                "p99_us": _pct(wall, 0.99) * 1e6,
                "cpu_p50_us": _pct(cpu, 0.5) * 1e6,
                "cpu_p99_us": _pct(cpu, 0.99) * 1e6,
            }
        )
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--storage", default="sqlite:////tmp/precheck_llm.db", help="archive of the recorded run")
    ap.add_argument("--iterations", type=int, default=40, help="proposals of the run to record")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--parallel", type=int, default=1, help="candidates in flight while recording (one core)")
    ap.add_argument("--rounds", type=int, default=3, help="timed calls per sample and check")
    ap.add_argument("--json", action="store_true", help="print one JSON document")
    args = ap.parse_args()

    archive = open_archive(args.storage)
    run = archive.latest_run()
    if run is None:
        archive.close()
        record_run(args.storage, args.iterations, args.seed, args.parallel)
        archive = open_archive(args.storage)
        run = archive.latest_run()
        if run is None:
            raise SystemExit(f"the run at {args.storage} stored nothing")
    cands = archive.candidates(run.id)
    archive.close()
    task = load_task(EXAMPLES / "function_minimization")
    result = replay(task, cands)

    by_id = {c.id: c for c in cands}
    samples = [(task, by_id[c.parent_id].program, c.program) for c in cands if c.parent_id is not None]
    for example in ("function_minimization", "circle_packing"):
        t = load_task(EXAMPLES / example)
        samples.extend((t, p, c) for p, c in _pairs(t, 100, seed=3))
    timing = cost(samples, args.rounds)

    if args.json:
        print(json.dumps({"run": run.id, "storage": args.storage, **result, "cost": timing}, indent=2))
        return
    print(
        f"run {run.id} in {args.storage}: {result['proposals']} proposals, {result['stopped_already']} stopped "
        f"before the sandbox today (no edit, illegal edit, identical text), {result['evaluated']} evaluated "
        f"({result['evaluated_failed']} failed in the sandbox)\n"
    )
    print(f"{'check':30} {'stopped':>8} {'failed anyway':>14} {'passed (false)':>15}")
    for name, y in result["checks"].items():
        print(f"{name:30} {y['stopped']:8d} {y['failed_anyway']:14d} {y['passed']:15d}")
    ch = result["chain"]
    print(f"{'all checks, in order':30} {ch['stopped']:8d} {ch['failed_anyway']:14d} {ch['passed']:15d}")
    print(
        f"{'duplicate syntax tree':30} {result['duplicates']:8d}   (same result as the original: "
        f"{result['duplicates_same_result']}/{result['duplicates']})"
    )
    print(
        f"\nevaluations saved: {result['saved']}/{result['evaluated']} = {result['saved_fraction']:.1%}; "
        f"false rejections: {result['false_rejections']} (target 0)"
    )
    for name, y in result["checks"].items():
        for line in y["examples"]:
            print(f"  {name}: {line}")

    print(
        f"\n{'cost per call (fresh text)':30} {'calls':>6} {'p50 µs':>8} {'p99 µs':>8} {'cpu p50':>8} {'cpu p99':>8}"
    )
    for row in timing:
        print(
            f"{row['what']:30} {row['calls']:6d} {row['p50_us']:8.0f} {row['p99_us']:8.0f} "
            f"{row['cpu_p50_us']:8.0f} {row['cpu_p99_us']:8.0f}"
        )
    print(
        "(wall = elapsed time, cpu = this thread's CPU time: the gap is time the OS gave to other processes; every\n"
        " call on fresh text, parent and child, unless the parent is cached; the p99 tail with the collector on is\n"
        " Python's full garbage collections, which the trees these checks allocate set off)"
    )


if __name__ == "__main__":
    main()
