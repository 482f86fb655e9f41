"""What godel achieves on the shipped examples: seed score vs best score after N proposals, per proposer and seed.

    python benchmarks/examples_bench.py [--examples function_minimization,circle_packing]
        [--proposers mix,mutate] [--seeds 0,1,2] [--iterations 40] [--json]

``mix`` is the default proposer (the embedded SmolLM2-135M model and local mutations); ``mutate`` is local mutations
alone; ``llm`` the model alone. Each row is one real run through the CLI on a fresh SQLite archive.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def run(example: str, proposer: str, seed: int, iterations: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bench.db"
        t0 = time.perf_counter()
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "godel",
                "evolve",
                str(ROOT / "examples" / example),
                "--storage",
                url,
                "--proposer",
                proposer,
                "--seed",
                str(seed),
                "--iterations",
                str(iterations),
                "--json",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        wall = time.perf_counter() - t0
        if proc.returncode not in (0, 1) or not proc.stdout.strip():
            return {
                "example": example,
                "proposer": proposer,
                "seed": seed,
                "error": proc.stderr.strip()[-300:],
            }
        doc = json.loads(proc.stdout)
        return {
            "example": example,
            "proposer": proposer,
            "seed": seed,
            "proposals": doc["candidates"],
            "seed_score": doc["seed_score"],
            "best_score": doc["best_score"],
            "improved": doc["best_score"] is not None and doc["best_score"] > doc["seed_score"],
            "valid_rate": doc["valid_proposal_rate"],
            "ok": doc["ok"],
            "failed": doc["failed"],
            "rejected": doc["rejected"],
            "seconds": round(wall, 1),
        }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--examples", default="function_minimization,circle_packing")
    ap.add_argument("--proposers", default="mix,mutate")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--iterations", type=int, default=40)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    rows = [
        run(ex, prop, int(seed), args.iterations)
        for ex in args.examples.split(",")
        for prop in args.proposers.split(",")
        for seed in args.seeds.split(",")
    ]
    if args.json:
        json.dump(rows, sys.stdout, indent=2)
        return
    cols = [
        "example",
        "proposer",
        "seed",
        "proposals",
        "seed_score",
        "best_score",
        "improved",
        "valid_rate",
        "ok",
        "failed",
        "rejected",
        "seconds",
    ]
    print(" | ".join(cols))
    for r in rows:
        if "error" in r:
            print(f"{r['example']} | {r['proposer']} | {r['seed']} | error: {r['error']}")
            continue
        print(
            " | ".join(
                f"{r[c]:.4f}" if isinstance(r[c], float) and c.endswith("score") else str(r[c]) for c in cols
            )
        )


if __name__ == "__main__":
    main()
