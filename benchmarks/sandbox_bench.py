"""Sandbox start-to-result overhead (p50/p90) and evaluations/s per backend, for a trivial candidate.

Targets (issue 4): zygote p50 <= 3 ms and >= 300 evaluations/s on 2 cores; exec p50 <= 15 ms.

    python benchmarks/sandbox_bench.py [-n 300] [--backends zygote,exec] [--json]
"""

from __future__ import annotations

import argparse
import json
import os

from godel.sandbox import BENCH_BACKENDS, bench, format_bench


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=300, help="runs per measurement")
    parser.add_argument("--backends", default=",".join(BENCH_BACKENDS))
    parser.add_argument("--slots", type=int, default=2)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rows = bench([b for b in args.backends.split(",") if b], args.n, slots=args.slots)
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print(f"sandbox overhead, trivial job, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}")
        print(format_bench(rows))


if __name__ == "__main__":
    main()
