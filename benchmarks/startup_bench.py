"""Start-up cost of the command line: ``godel --help``, the read commands on a 10,000-candidate SQLite archive,
and the import time of the CLI.

    python benchmarks/startup_bench.py [--candidates 10000] [--repeats 7] [--json]

Each command is its own process (``python -m godel ...``, this checkout's ``src`` first on ``PYTHONPATH``); wall is
spawn to exit, CPU is user + system of the process (``os.wait4``). The commands are interleaved, one of each per
repeat, so a load spike on a shared machine hits them alike; the table gives the median and the minimum.
``import`` is ``python -X importtime -c 'import godel.cli; godel.cli._load()'``: the CLI with every command
registered, which is what every invocation pays before it does anything; the packages that
take longest (their modules' own import times summed) are listed. Targets (issue 14): ``godel --help`` and ``godel status --json`` on 10,000 candidates <= 0.3 s wall and CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

BASE = "".join(
    f"def step_{i}(x, y):\n    # EVOLVE-BLOCK-START\n    return x * {i} + y\n    # EVOLVE-BLOCK-END\n\n"
    for i in range(30)
)


def build_archive(path: Path, n: int) -> int:
    """A run of ``n`` candidates like an LLM run's (70% ok, the rest failed or rejected); the seed's id."""
    from godel.archive import SQLArchive
    from godel.candidate import Candidate, Program, Status

    rng = random.Random(0)
    with SQLArchive(f"sqlite:///{path}") as archive:
        run = archive.create_run("startup", "bench", {})
        seed_id = 0
        batch: list[Candidate] = []
        for it in range(n):
            k = rng.randrange(30)
            roll = rng.random()
            status = Status.OK if roll < 0.7 else (Status.FAILED if roll < 0.9 else Status.REJECTED)
            score = rng.random() if status is Status.OK else None
            batch.append(
                Candidate(
                    run_id=run.id,
                    iteration=it,
                    program=Program.single(
                        "main.py", BASE.replace(f"x * {k} +", f"x * {k + rng.random():.6f} +")
                    ),
                    parent_id=seed_id if it else None,
                    generation=1 if it else 0,
                    status=status,
                    score=score,
                    reason=None if status is Status.OK else "AssertionError: wrong result for input 7",
                    failure_stage=None if status is Status.OK else "evaluate",
                    proposer="llm",
                    prompt="You are improving a program.\n" * 40,
                    metrics={"combined_score": score} if score is not None else {},
                    timings={"propose": 0.01, "evaluate": 0.002},
                )
            )
            if it == 0:
                seed_id = archive.add_candidates(batch)[0]
                batch = []
            elif len(batch) == 1000:
                archive.add_candidates(batch)
                batch = []
        if batch:
            archive.add_candidates(batch)
        return seed_id


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, float, int]:
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert proc.stderr is not None
    errors = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    rc = os.waitstatus_to_exitcode(status)
    proc.returncode = rc
    if rc != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {rc}: {errors.decode(errors='replace')[-1500:]}")
    return wall, usage.ru_utime + usage.ru_stime, rc


def import_profile(env: dict[str, str]) -> tuple[float, list[tuple[str, float]]]:
    """(total import ms of the CLI with its commands, the packages whose modules took longest to import, in ms:
    the self time of every module summed by its top-level package)."""
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import godel.cli; godel.cli._load()"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    by_package: dict[str, float] = {}
    total = 0.0
    for line in out.stderr.splitlines():
        m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \| (\s*)(\S+)$", line)
        if not m:
            continue
        if not m.group(3):
            total += int(m.group(2)) / 1000  # a top-level import: its cumulative time
        package = m.group(4).split(".")[0]
        by_package[package] = by_package.get(package, 0.0) + int(m.group(1)) / 1000
    return total, sorted(by_package.items(), key=lambda t: -t[1])[:8]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--candidates", type=int, default=10_000)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--json", action="store_true")
    ap.add_argument(
        "--baseline-src",
        type=Path,
        help="another godel source tree: the same commands run from it too, interleaved, labelled 'base'",
    )
    args = ap.parse_args()
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT / "src"), env.get("PYTHONPATH", "")) if p)
    env.pop("GODEL_STORAGE", None)
    with tempfile.TemporaryDirectory(prefix="startup-bench-") as tmp:
        db = Path(tmp) / "archive.db"
        t0 = time.perf_counter()
        seed = build_archive(db, args.candidates)
        built = time.perf_counter() - t0
        url = f"sqlite:///{db}"
        godel = [sys.executable, "-m", "godel"]
        base = {
            "godel --help": [*godel, "--help"],
            f"godel status --json ({args.candidates:,})": [*godel, "status", "--json", "--storage", url],
            "godel status": [*godel, "status", "--storage", url],
            "godel best --json": [*godel, "best", "--json", "--storage", url],
            "godel list --json": [*godel, "list", "--json", "--storage", url],
            "godel show SEED --json": [*godel, "show", str(seed), "--json", "--storage", url],
        }
        trees = {"": env}
        if args.baseline_src is not None:
            base_env = dict(env)
            base_env["PYTHONPATH"] = os.pathsep.join(
                p for p in (str(args.baseline_src), os.environ.get("PYTHONPATH", "")) if p
            )
            trees["base: "] = base_env
        commands = {
            f"{tag}{name}": (cmd, tree_env) for name, cmd in base.items() for tag, tree_env in trees.items()
        }
        samples: dict[str, list[tuple[float, float]]] = {k: [] for k in commands}
        for _ in range(args.repeats):
            for name, (cmd, cmd_env) in commands.items():
                wall, cpu, _ = timed(cmd, cmd_env)
                samples[name].append((wall, cpu))
        imports = [import_profile(env) for _ in range(3)]
        base_imports = [import_profile(trees["base: "]) for _ in range(3)] if args.baseline_src else []
    total_ms = statistics.median(t for t, _ in imports)
    rows: list[dict[str, Any]] = []
    for name, xs in samples.items():
        walls = [w for w, _ in xs]
        cpus = [c for _, c in xs]
        rows.append(
            {
                "command": name,
                "wall_s_median": round(statistics.median(walls), 3),
                "wall_s_min": round(min(walls), 3),
                "cpu_s_median": round(statistics.median(cpus), 3),
                "cpu_s_min": round(min(cpus), 3),
            }
        )
    if args.json:
        doc = {
            "rows": rows,
            "import_ms": total_ms,
            "heaviest_imports": imports[0][1],
            "archive_build_s": built,
        }
        json.dump(doc, sys.stdout, indent=2)
        return
    print(
        f"archive of {args.candidates:,} candidates built in {built:.1f} s; {args.repeats} repeats, interleaved"
    )
    print(f"{'command':<40} {'wall median':>11} {'wall min':>9} {'CPU median':>11} {'CPU min':>8}")
    for r in rows:
        print(
            f"{r['command']:<40} {r['wall_s_median']:>11.3f} {r['wall_s_min']:>9.3f} "
            f"{r['cpu_s_median']:>11.3f} {r['cpu_s_min']:>8.3f}"
        )
    if base_imports:
        print(
            f"\nbase: import godel.cli + every command: {statistics.median(t for t, _ in base_imports):.0f} ms"
        )
    print(f"\nimport godel.cli + every command: {total_ms:.0f} ms (-X importtime, median of 3); heaviest:")
    for mod, ms in imports[0][1]:
        print(f"  {mod:<40} {ms:7.1f} ms")


if __name__ == "__main__":
    main()
