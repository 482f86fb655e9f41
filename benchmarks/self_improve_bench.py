"""Self-improvement benchmark: held-out HumanEval pass@1 of the seed agent and of the best evolved agent, with the
DGM paper's ablations beside it, each at the same budget.

    python benchmarks/self_improve_bench.py [--iterations 8] [--stage-sizes 10,50,0] [--test-problems 0]
        [--calls-per-problem 4] [--base-url URL --model NAME [--api-key-env VAR]] [--arms dgm,...] [--timeout S]
        [--json]

Arms (one flag each in `godel self-improve`):

* ``dgm``: the parent agent rewrites itself, DGM parent selection (score x 1/(1+children)): the default;
* ``no-self-modify`` (``--no-self-modify``): the seed agent writes every child;
* ``no-open-ended`` (``--selector greedy``): the current best is always the parent;
* ``baseline``: the seed agent alone, evaluated as many times as the run evaluated agents (different seeds), the
  best of those kept: the simple baseline every search must beat.

Each arm's best (by development-split score) is then scored once on the held-out test split, which no arm ever saw;
printed with a 95% Wilson interval. Without ``--base-url`` the embedded SmolLM2-135M answers (offline, slow: several
seconds a call on two cores; the closing figures say how long a run takes). ``--test-problems N`` scores only the
first N held-out problems (for quick runs; 0 = all 82).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from godel.agents import AgentBenchmark, agent_parts, load_agent, load_problems, wilson
from godel.candidate import Status
from godel.llm import make_llm

ARMS = ("dgm", "no-self-modify", "no-open-ended", "baseline")


def _overrides(args: argparse.Namespace) -> list[str]:
    sets = [
        f"agent.stage_sizes=[{args.stage_sizes}]",
        f"agent.stage_thresholds=[{','.join(['0.0'] * (len(args.stage_sizes.split(',')) - 1))}]",
        f"agent.calls_per_problem={args.calls_per_problem}",
        f"agent.improve_calls={args.improve_calls}",
        f"run.iterations={args.iterations}",
        f"run.seed={args.seed}",
        "llm.cache=false",
    ]
    if args.base_url:
        model = f'{{backend = "openai", model = "{args.model}", base_url = "{args.base_url}"'
        if args.api_key_env:
            model += f', api_key_env = "{args.api_key_env}"'
    else:
        model = '{backend = "embedded"'
    sets.append(f"llm.models=[{model}, timeout_seconds = {args.timeout}}}]")
    return sets


def _arm(name: str, args: argparse.Namespace, problems: Any, tmp: Path, pool: Any) -> dict[str, Any]:
    sets = _overrides(args)
    if name == "no-self-modify":
        sets.append("agent.self_modify=false")
    if name == "no-open-ended":
        sets.append("selector.name=greedy")
    task = load_agent(None, sets)
    started = time.monotonic()
    with agent_parts(task, f"sqlite:///{tmp / (name + '.db')}", pool=pool, problems=problems) as parts:
        bench = parts.executor
        assert isinstance(bench, AgentBenchmark)
        if name == "baseline":
            best, evaluations = None, args.iterations + 1
            for i in range(evaluations):
                bench.seed = (
                    args.seed + i
                )  # the agent's sampling seeds differ from one evaluation to the next
                ev = bench.evaluate(task.program, label=f"baseline {i}")
                if ev.ok and (best is None or (ev.score or 0) > best):
                    best = ev.score
            best_program, dev = task.program, best
        else:
            summary = parts.engine().run()
            cand = parts.archive.best(summary.run_id)
            best_program = cand.program if cand is not None else task.program
            dev = cand.score if cand is not None else None
            evaluations = len(parts.archive.candidates(summary.run_id, status=Status.OK))
        run_seconds = time.monotonic() - started
        bench.seed = args.seed  # every arm's held-out score is drawn with the same sampling seeds
        ids = list(bench.split.test[: args.test_problems] if args.test_problems else bench.split.test)
        seed_report = bench.report(task.program, ids, label="held-out seed") if name == "dgm" else None
        rep = bench.report(best_program, ids, label=f"held-out {name}")
    lo, hi = wilson(rep.passed, rep.total)
    doc = {
        "arm": name,
        "dev_best": dev,
        "evaluated_agents": evaluations,
        "held_out": f"{rep.passed}/{rep.total}",
        "pass_at_1": rep.rate,
        "ci95": [round(lo, 3), round(hi, 3)],
        "changed": best_program != task.program,
        "run_seconds": round(run_seconds, 1),
    }
    if seed_report is not None:
        slo, shi = wilson(seed_report.passed, seed_report.total)
        doc["seed_held_out"] = f"{seed_report.passed}/{seed_report.total}"
        doc["seed_pass_at_1"] = seed_report.rate
        doc["seed_ci95"] = [round(slo, 3), round(shi, 3)]
    return doc


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--iterations", type=int, default=8)
    ap.add_argument("--stage-sizes", default="10,50,0")
    ap.add_argument("--test-problems", type=int, default=0)
    ap.add_argument("--calls-per-problem", type=int, default=4)
    ap.add_argument("--improve-calls", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--base-url")
    ap.add_argument("--model", default="gpt-4o-mini")
    ap.add_argument("--api-key-env")
    ap.add_argument("--arms", default=",".join(ARMS))
    ap.add_argument(
        "--timeout", type=float, default=600.0, help="seconds per model call (the embedded model is slow)"
    )
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    arms = [a for a in args.arms.split(",") if a]
    unknown = [a for a in arms if a not in ARMS]
    if unknown:
        ap.error(f"unknown arm(s) {', '.join(unknown)}; known: {', '.join(ARMS)}")
    problems = load_problems()
    pool = make_llm(load_agent(None, _overrides(args)).config.llm)  # one model, shared by every arm
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for arm in arms:
            rows.append(_arm(arm, args, problems, Path(tmp), pool))
            if not args.json:
                r = rows[-1]
                print(f"... {arm} done in {r['run_seconds']} s", flush=True)
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    print(f"\nHumanEval held-out pass@1 ({args.iterations} iterations, stages {args.stage_sizes})")
    print(
        f"{'arm':<16}{'dev best':>10}{'agents':>8}{'held-out':>10}{'pass@1':>8}  {'95% CI':<13}{'seconds':>9}"
    )
    for r in rows:
        dev = f"{r['dev_best']:.3f}" if r["dev_best"] is not None else "-"
        ci = f"{r['ci95'][0]:.3f}-{r['ci95'][1]:.3f}"
        print(
            f"{r['arm']:<16}{dev:>10}{r['evaluated_agents']:>8}{r['held_out']:>10}{r['pass_at_1']:>8.3f}  "
            f"{ci:<13}{r['run_seconds']:>9}"
        )
        if "seed_held_out" in r:
            sci = f"{r['seed_ci95'][0]:.3f}-{r['seed_ci95'][1]:.3f}"
            print(
                f"{'(seed agent)':<16}{'':>10}{'':>8}{r['seed_held_out']:>10}{r['seed_pass_at_1']:>8.3f}  {sci}"
            )


if __name__ == "__main__":
    main()
