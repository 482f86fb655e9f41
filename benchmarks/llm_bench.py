"""Language-model figures: the embedded default's edit success, and a run against a failing endpoint.

1. Embedded SmolLM2-135M (the default model) on examples/function_minimization: N proposals from the seed
   program through ``LLMProposer``; prints the share that parse and apply (target >= 60%), the share that applied on
   the first decode, tokens/s and seconds per proposal.
2. A full engine run (archive, sandbox, evaluator) whose only model is a local chat-completions server that fails
   30% of requests (429, 500, slow > timeout, empty body, garbage): the run must complete, and every injected
   failure must show up as a retry or as a failed proposal in the archive, none scored.

    python benchmarks/llm_bench.py [--proposals 40] [--iterations 40] [--threads N] [--skip-embedded] [--json]
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from godel.archive import open_archive
from godel.candidate import Candidate, Status
from godel.config import ProposerConfig
from godel.engine import Engine
from godel.llm import LLMConfig, ModelConfig, make_llm
from godel.llm.testing import FakeChatServer
from godel.propose import LLMProposer, ProposalContext
from godel.sandbox import make_sandbox
from godel.select import make_selector
from godel.task import load_task

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "function_minimization"


def embedded(proposals: int, threads: int | None) -> dict[str, Any]:
    task = load_task(EXAMPLE)
    llm = make_llm(LLMConfig(models=(ModelConfig(n_threads=threads),), cache=False))
    prop = LLMProposer(llm, ProposerConfig(kind="llm"))
    parent = Candidate(run_id=0, iteration=0, program=task.program, id=1, status=Status.OK, score=0.5)
    parent.metrics = {"combined_score": 0.5}
    ok = first = 0
    ops: Counter[str] = Counter()
    distinct = set()
    errors: Counter[str] = Counter()
    t0 = time.perf_counter()
    for i in range(proposals):
        ctx = ProposalContext(task=task, parent=parent, iteration=i + 1)
        p = prop.propose(ctx, random.Random(i))
        ops[str(p.meta.get("op", "?"))] += 1
        if p.ok and p.program is not None:
            ok += 1
            first += int(p.meta.get("attempts") == 1)
            distinct.add(p.program.digest())
        else:
            errors[re.sub(r"line \d+.*", "", p.error or "?")[:70]] += 1
    wall = time.perf_counter() - t0
    stats = llm.stats()["models"]["embedded:smollm2-135m-instruct"]
    return {
        "proposals": proposals,
        "applied": ok,
        "applied_pct": round(100 * ok / proposals, 1),
        "first_decode_pct": round(100 * first / proposals, 1),
        "distinct_programs": len(distinct),
        "decodes": stats["requests"],
        "tokens_out": stats["tokens_out"],
        "tokens_per_s": round(stats["tokens_out"] / max(stats["seconds"], 1e-9), 1),
        "s_per_proposal": round(wall / proposals, 2),
        "ops": dict(ops),
        "failures": dict(errors),
    }


def _fake_reply(body: dict[str, Any]) -> str:
    """A plausible model: change the iteration count of search_algorithm in the program it was shown."""
    text = " ".join(str(m.get("content", "")) for m in body.get("messages", []))
    m = re.search(r"^def search_algorithm\(iterations=(\d+).*$", text, re.M)
    if m is None:
        return "I would not change anything."
    line = m.group(0)
    new = line.replace(f"iterations={m.group(1)}", f"iterations={random.randint(10, 400)}", 1)
    return f"<<<<<<< SEARCH\n{line}\n=======\n{new}\n>>>>>>> REPLACE\n"


def failing_endpoint(iterations: int, rate: float, seed: int) -> dict[str, Any]:
    with (
        FakeChatServer(reply=_fake_reply, failure_rate=rate, slow_seconds=1.5, seed=seed) as srv,
        tempfile.TemporaryDirectory() as tmp,
    ):
        model = (
            "{backend='openai', model='fake-model', base_url='"
            + srv.url
            + "', timeout_seconds=1.0, max_retries=2}"
        )
        task = load_task(
            EXAMPLE,
            [
                f"run.iterations={iterations}",
                "run.parallel=2",
                "proposer.kind='llm'",
                "sandbox.backend='unsafe-subprocess'",
                "sandbox.allow_unsafe=true",
                "guard.enabled=false",
                f"llm.models=[{model}]",
                "llm.cache=false",
                "llm.retry_base_seconds=0.05",
                "llm.breaker_failures=1000",
            ],
        )
        llm = make_llm(task.config.llm)
        sandbox = make_sandbox(task.config.sandbox, slots=2)
        url = f"sqlite:///{tmp}/bench.db"
        engine = Engine(
            task,
            open_archive(url),
            proposer=LLMProposer(llm, task.config.proposer),
            selector_factory=lambda: make_selector(task.config.selector),
            sandbox=sandbox,
        )
        t0 = time.perf_counter()
        summary = engine.run()
        wall = time.perf_counter() - t0
        sandbox.close()
        archive = open_archive(url)
        cands = [c for c in archive.candidates(summary.run_id) if c.iteration > 0]
        archive.close()
    behaviours = Counter(srv.behaviours())
    injected = sum(n for b, n in behaviours.items() if b != "ok")
    st = llm.stats()["models"]["openai:fake-model"]
    infra = [c for c in cands if c.failure_stage == "propose" and "model endpoint failed" in (c.reason or "")]
    scored_failures = [c for c in cands if c.status != Status.OK and c.score is not None]
    return {
        "iterations": len(cands),
        "wall_s": round(wall, 1),
        "requests": sum(behaviours.values()),
        "injected_failures": injected,
        "by_kind": {b: n for b, n in sorted(behaviours.items()) if b != "ok"},
        "retried": st["retries"],
        "failed_calls": st["failures"],
        "accounted": st["retries"] + st["failures"],
        "infra_failed_candidates": len(infra),
        "ok_candidates": sum(1 for c in cands if c.status == Status.OK),
        "other_failed": sum(1 for c in cands if c.status != Status.OK) - len(infra),
        "failed_but_scored": len(scored_failures),
        "all_accounted": st["retries"] + st["failures"] == injected
        and len(infra) == st["failures"]
        and not scored_failures
        and len(cands) == iterations,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--proposals", type=int, default=40)
    ap.add_argument("--iterations", type=int, default=40)
    ap.add_argument("--failure-rate", type=float, default=0.3)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--skip-embedded", action="store_true")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    out: dict[str, Any] = {}
    if not args.skip_embedded:
        out["embedded"] = embedded(args.proposals, args.threads)
    out["failing_endpoint"] = failing_endpoint(args.iterations, args.failure_rate, args.seed)
    if args.json:
        print(json.dumps(out, indent=2))
        return
    for name, row in out.items():
        print(f"\n== {name}")
        width = max(len(k) for k in row)
        for k, v in row.items():
            print(f"  {k:<{width}}  {v}")
    if "embedded" in out and out["embedded"]["applied_pct"] < 60:
        print("\nTARGET MISSED: embedded edits applied < 60%", file=sys.stderr)
    if not out["failing_endpoint"]["all_accounted"]:
        print("\nTARGET MISSED: not every injected failure is accounted for", file=sys.stderr)


if __name__ == "__main__":
    main()
