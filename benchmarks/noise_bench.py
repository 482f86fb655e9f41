"""Honest improvement on a noisy task: gains that beat the noise are kept, noise is never called hacking.

Run: ``python benchmarks/noise_bench.py [--seeds 3] [--iterations 40]``. The task, ``benchmarks/tasks/timed_kernel``,
scores a sum-of-squares kernel by its own runtime against a reference loop timed in the same evaluation, so its score
carries the machine's timing jitter. Everything runs for real: the zygote sandbox, the guard (constitution, static
rules, score-jump, canaries, re-run check), SQLite archives.

1. The noise: the seed evaluated several times at the start of a run, as every run does.
2. Ten legitimate speed-ups written by hand (``benchmarks/tasks/timed_kernel_improvements``), each tried as a child of
   the seed in a fresh run: is it accepted as the new best (it should be: each is faster by more than the noise), and
   is it flagged (it must not be)?
3. Evolution with local mutations, ``--iterations`` proposals for each of ``--seeds`` seeds: the accepted best must
   be strictly above the seed each time; every flag raised on these honest candidates is a false alarm, reported
   per candidate.
4. Re-runs of the unchanged seed: how often the re-run check would call its own noise "did not reproduce".
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TASK = ROOT / "benchmarks" / "tasks" / "timed_kernel"
IMPROVEMENTS = ROOT / "benchmarks" / "tasks" / "timed_kernel_improvements"

from godel.config import GuardConfig  # noqa: E402
from godel.noise import Noise  # noqa: E402
from godel.parts import build_parts  # noqa: E402
from godel.task import Task, load_task  # noqa: E402


def _task(tmp: Path, *extra: str) -> Task:
    root = tmp / "timed_kernel"
    if not root.exists():
        shutil.copytree(TASK, root)
    return load_task(root, list(extra))


def improvements(tmp: Path) -> list[dict[str, object]]:
    rows = []
    for path in sorted(IMPROVEMENTS.glob("*.py")):
        task = _task(tmp)
        url = f"sqlite:///{tmp}/{path.stem}.db"
        with build_parts(task, url, proposals=False) as parts:
            ((_, cand),) = parts.engine().try_programs(
                [(path.name, task.program.replace(task.program.main_path, path.read_text()))]
            )
            run = parts.archive.get_run(cand.run_id)
            seed = parts.archive.candidates(run.id, limit=1)[0]
            noise = cand.evaluation.get("noise", {})
            comparison = noise.get("comparison") or {}
            best = run.meta.get("best", {})
            rows.append(
                {
                    "program": path.stem,
                    "status": cand.status.value,
                    "seed": seed.score,
                    "score": cand.score,
                    "z": comparison.get("z"),
                    "n": noise.get("n"),
                    "accepted": best.get("id") == cand.id,
                    "flags": list(cand.flags),
                    "reason": cand.reason or noise.get("reason", ""),
                    "noise": Noise.from_dict(run.meta.get("noise", {})).fitness_std,
                }
            )
    return rows


def evolve(tmp: Path, seed: int, iterations: int) -> dict[str, object]:
    task = _task(tmp, f"run.seed={seed}", f"run.iterations={iterations}")
    url = f"sqlite:///{tmp}/evolve-{seed}.db"
    t0 = time.monotonic()
    with build_parts(task, url) as parts:
        summary = parts.engine().run()
        cands = parts.archive.candidates(summary.run_id)
        events = parts.archive.events(summary.run_id)
    ok = [c for c in cands if c.status.value == "ok" and c.iteration > 0]
    return {
        "seed": seed,
        "seed_score": summary.seed.score if summary.seed else None,
        "best": summary.best.score if summary.best else None,
        "best_iteration": summary.best.iteration if summary.best else None,
        "ok": len(ok),
        "flagged": sum(1 for c in ok if c.flags),
        "flags": [f for c in ok for f in c.flags],
        "promotions": sum(1 for e in events if e.kind == "best"),
        "rollbacks": sum(1 for e in events if e.kind == "rollback"),
        "evaluations": sum(1 for e in events if e.kind == "evaluation"),
        "noise": (summary.noise or {}).get("fitness_std"),
        "seconds": time.monotonic() - t0,
    }


def reruns(tmp: Path, pairs: int) -> tuple[Noise, int, int, float]:
    """Evaluate the unchanged seed 2 x ``pairs`` times; how often would the re-run check flag a pair?"""
    task = _task(tmp)
    sigma = GuardConfig().rerun_sigma
    with build_parts(task, f"sqlite:///{tmp}/reruns.db", proposals=False) as parts:
        scores = []
        for i in range(2 * pairs + 5):
            ev = parts.executor.evaluate(task.program, label=f"seed re-run {i}")
            assert ev.ok and ev.score is not None, ev.reason
            scores.append(ev.score)
    noise = Noise.from_runs(scores[:5])  # what a run measures at its start
    flagged = sum(noise.sigmas(abs(a - b)) > sigma for a, b in zip(scores[5::2], scores[6::2], strict=False))
    return noise, flagged, pairs, statistics.pstdev(scores)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--iterations", type=int, default=40)
    ap.add_argument("--pairs", type=int, default=40, help="re-run pairs of the unchanged seed")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as td:
        tmp = Path(td)
        print("== ten legitimate speed-ups, each tried as a child of the seed (guard on, zygote sandbox)")
        print(
            f"{'program':22} {'status':7} {'seed':>7} {'score':>7} {'z':>7} {'n':>3} {'best?':>6} flags / reason"
        )
        rows = improvements(tmp)
        for r in rows:
            z = r["z"]
            zs = "inf" if z is None and r["accepted"] else (f"{z:.1f}" if isinstance(z, float) else "—")
            flags = "; ".join(r["flags"]) if r["flags"] else "none"  # type: ignore[arg-type]
            print(
                f"{r['program']:22} {r['status']:7} {r['seed']:7.3f} {r['score'] or 0:7.3f} {zs:>7} {r['n'] or 0:3} "
                f"{'yes' if r['accepted'] else 'no':>6} {flags}"
                + ("" if r["accepted"] else f" ({r['reason']})")
            )
        accepted = sum(1 for r in rows if r["accepted"])
        flagged = sum(1 for r in rows if r["flags"])
        print(
            f"accepted {accepted}/{len(rows)}, flagged {flagged}/{len(rows)} (target: 10 accepted, 0 flagged)"
        )

        print(f"\n== local mutations, {args.iterations} proposals, seeds 0..{args.seeds - 1}")
        print(
            f"{'seed':>4} {'seed score':>10} {'best':>7} {'it':>3} {'ok':>4} {'flagged':>8} {'best/rollback':>14} {'noise':>7} {'s':>6}"
        )
        results = [evolve(tmp, s, args.iterations) for s in range(args.seeds)]
        for r in results:
            print(
                f"{r['seed']:4} {r['seed_score']:10.3f} {r['best']:7.3f} {r['best_iteration']:3} {r['ok']:4} "
                f"{r['flagged']:8} {r['promotions']:>7}/{r['rollbacks']:<6} {r['noise']:7.3f} {r['seconds']:6.0f}"
            )
            for f in r["flags"]:  # type: ignore[attr-defined]
                print(f"       flag: {f}")
        above = sum(1 for r in results if (r["best"] or 0) > (r["seed_score"] or 0))
        ok = sum(int(r["ok"]) for r in results)  # type: ignore[call-overload]
        false_alarms = sum(int(r["flagged"]) for r in results)  # type: ignore[call-overload]
        print(
            f"best strictly above the seed in {above}/{len(results)} runs; false alarms {false_alarms}/{ok} honest "
            f"candidates ({false_alarms / max(ok, 1):.1%}; target <= 1% per candidate)"
        )

        print(f"\n== the unchanged seed re-run {args.pairs} times in pairs")
        noise, flagged_pairs, pairs, spread = reruns(tmp, args.pairs)
        print(
            f"noise measured at the start: {noise.describe()}; spread over all re-runs {spread:.4g}\n"
            f"re-run check at {GuardConfig().rerun_sigma:g} sigma flags {flagged_pairs}/{pairs} pairs "
            f"({flagged_pairs / pairs:.1%}); the old absolute tolerance (1e-6) would have flagged every pair"
        )


if __name__ == "__main__":
    sys.exit(main())
