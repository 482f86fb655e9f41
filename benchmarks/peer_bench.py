"""godel against OpenEvolve 0.4.1 on one machine: same instant model endpoint, same trivial task, runs alternated.

    python benchmarks/peer_bench.py [--iterations 200] [--rounds 3] [--variants llm,mutate,guard-off,parallel-4]
                                    [--parallel 2] [--json FILE]

What it does:

* creates (the first time; cached in ``~/.cache/godel-bench/openevolve-0.4.1``) a throwaway virtual environment
  with ``openevolve==0.4.1`` from the configured PyPI index, and never touches the project's own environment;
* starts an instant chat-completions endpoint on 127.0.0.1 (:class:`godel.llm.testing.FakeChatServer`, HTTP/1.1
  keep-alive) that answers every request at once with a full program in a fenced block, a different constant each
  time so no system can skip a duplicate;
* per round, runs OpenEvolve (``openevolve-run``, full rewrites, ``parallel_evaluations`` = ``--parallel``, no
  cascade) and then each godel variant (``godel evolve`` through the CLI, zygote sandbox, SQLite archive), each as its
  own process, so the machine's load at that moment hits both systems alike;
* measures, per run: the steady rate from the system's own per-iteration timestamps (OpenEvolve's
  ``Iteration N: ... completed`` log lines, millisecond-stamped; godel's ``candidates.updated_at`` rows), taken
  between the 10th and the 90th percentile of the completions so start-up and the tail are out; the whole process's
  wall time (spawn to exit); its CPU time (user + system of the process and every descendant it reaped,
  ``os.wait4``) per candidate;
* prints one row per system and variant (medians over the rounds) and the godel/OpenEvolve ratios of each round's
  pair, min / median / max.

Variants (godel): ``llm`` the model path with the guard on and ``run.parallel`` = ``--parallel``; ``mutate`` local
mutations instead of the model; ``guard-off`` the model path without the guard; ``parallel-2``/``parallel-4`` the
model path with that many candidates in flight. Only 127.0.0.1 is ever contacted once the environment exists.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CACHE = Path.home() / ".cache" / "godel-bench"
OE_VERSION = "0.4.1"
OE_VENV = CACHE / f"openevolve-{OE_VERSION}"
MODEL = "fake-model"

PROGRAM = """# EVOLVE-BLOCK-START
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

GODEL_VARIANTS: dict[str, list[str]] = {
    "llm": [],
    "mutate": ["proposer.kind='mutate'"],
    "guard-off": ["guard.enabled=false"],
    "parallel-2": ["run.parallel=2"],
    "parallel-4": ["run.parallel=4"],
}


def ensure_openevolve() -> Path:
    """The throwaway environment's ``openevolve-run``, created once from the configured index."""
    exe = OE_VENV / "bin" / "openevolve-run"
    stamp = OE_VENV / ".ready"
    if stamp.exists() and exe.exists():
        return exe
    if OE_VENV.exists():
        shutil.rmtree(OE_VENV)  # a half-built environment from an interrupted first run
    OE_VENV.parent.mkdir(parents=True, exist_ok=True)
    print(f"peer_bench: creating {OE_VENV} with openevolve=={OE_VERSION} (once)", file=sys.stderr)
    subprocess.run([sys.executable, "-m", "venv", str(OE_VENV)], check=True)
    subprocess.run(
        [str(OE_VENV / "bin" / "python"), "-m", "pip", "install", "-q", f"openevolve=={OE_VERSION}"],
        check=True,
    )
    stamp.write_text(OE_VERSION)
    return exe


class Replies:
    """Full programs, each with another constant: a model that answers instantly and never repeats itself."""

    def __init__(self) -> None:
        self._n = itertools.count(1)

    def __call__(self, body: dict[str, Any]) -> str:
        n = next(self._n)  # atomic under the GIL: the server's threads share it
        code = PROGRAM.replace("a = 1.5", f"a = {1 + n / 100000:.5f}")
        return f"Here is the improved program.\n\n```python\n{code}```\n"


def timed(cmd: list[str], env: dict[str, str], cwd: Path, log: Path) -> tuple[float, float, int]:
    """Run ``cmd``; (wall seconds spawn to exit, CPU seconds of it and its reaped descendants, exit code)."""
    with log.open("wb") as fh:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=fh, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    return wall, usage.ru_utime + usage.ru_stime, proc.returncode


def steady_rate(stamps: list[float]) -> float:
    """Completions per second between the 10th and the 90th percentile of the completion times."""
    ts = sorted(stamps)
    if len(ts) < 10:
        return float("nan")
    i0, i1 = len(ts) // 10, (9 * len(ts)) // 10
    span = ts[i1] - ts[i0]
    return (i1 - i0) / span if span > 0 else float("inf")


_OE_LINE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) - .*Iteration (\d+): Program .* completed in")


def run_openevolve(exe: Path, url: str, work: Path, iterations: int, parallel: int) -> dict[str, Any]:
    task = work / "oe"
    task.mkdir()
    (task / "initial_program.py").write_text(PROGRAM)
    (task / "evaluator.py").write_text(EVALUATOR)
    config = {
        "max_iterations": iterations,
        "checkpoint_interval": iterations * 10,  # no checkpoint inside the measured run
        "log_level": "INFO",
        "random_seed": 42,
        "diff_based_evolution": False,  # the endpoint answers with full programs
        "llm": {
            "api_base": url,
            "api_key": "bench",
            "models": [{"name": MODEL, "weight": 1.0}],
            "timeout": 30,
            "retries": 0,
        },
        "evaluator": {"parallel_evaluations": parallel, "cascade_evaluation": False, "timeout": 30},
    }
    # JSON is YAML: the throwaway environment's own loader reads it.
    (task / "config.yaml").write_text(json.dumps(config, indent=2))
    out = task / "out"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH",)}
    env["OPENAI_API_KEY"] = "bench"
    wall, cpu, rc = timed(
        [
            str(exe),
            "initial_program.py",
            "evaluator.py",
            "--config",
            "config.yaml",
            "--output",
            str(out),
            "--iterations",
            str(iterations),
        ],
        env,
        task,
        work / "oe.log",
    )
    stamps = []
    for log in (out / "logs").glob("*.log"):
        for line in log.read_text(errors="replace").splitlines():
            m = _OE_LINE.match(line)
            if m:
                stamps.append(datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp())
    if rc != 0 or not stamps:
        raise RuntimeError(f"openevolve failed (exit {rc}): {(work / 'oe.log').read_text()[-2000:]}")
    n = len(stamps)
    return {
        "system": "openevolve",
        "candidates": n,
        "steady_per_s": steady_rate(stamps),
        "wall_s": wall,
        "cpu_ms_per_candidate": 1000 * cpu / n,
    }


def run_godel(
    variant: str,
    url: str,
    work: Path,
    iterations: int,
    parallel: int,
    src: Path | None = None,
    label: str = "godel",
) -> dict[str, Any]:
    """One ``godel evolve`` of this checkout (or of the source tree ``src``, for a before/after comparison)."""
    tag = f"{label}-{variant}"
    task = work / tag
    task.mkdir()
    (task / "initial_program.py").write_text(PROGRAM)
    (task / "evaluator.py").write_text(EVALUATOR)
    db = work / f"{tag}.db"
    model = f"{{backend='openai', model='{MODEL}', base_url='{url}', timeout_seconds=30.0, max_retries=0}}"
    sets = [
        f"run.iterations={iterations}",
        f"run.parallel={parallel}",
        "run.seed=42",
        "proposer.kind='llm'",
        "proposer.edit_format='full'",
        "sandbox.backend='zygote'",
        "guard.enabled=true",
        f"llm.models=[{model}]",
        "llm.cache=false",
        *GODEL_VARIANTS[variant],
    ]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(src or ROOT / "src"), env.get("PYTHONPATH", "")) if p)
    cmd = [sys.executable, "-m", "godel", "evolve", str(task), "--storage", f"sqlite:///{db}", "--json"]
    for s in sets:
        cmd += ["--set", s]
    log = work / f"{tag}.log"
    wall, cpu, rc = timed(cmd, env, work, log)
    if rc != 0 or not db.exists():
        raise RuntimeError(f"{label} {variant} failed (exit {rc}): {log.read_text()[-2000:]}")
    with sqlite3.connect(db) as con:
        rows = con.execute("SELECT updated_at, status FROM candidates WHERE iteration > 0").fetchall()
    stamps = [r[0] for r in rows]
    n = len(stamps)
    ok = sum(1 for r in rows if r[1] == "ok")
    return {
        "system": f"{label} {variant}",
        "candidates": n,
        "ok": ok,
        "steady_per_s": steady_rate(stamps),
        "wall_s": wall,
        "cpu_ms_per_candidate": 1000 * cpu / max(n, 1),
    }


_SANDBOX_ONLY = """
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from godel.executor import LocalExecutor
from godel.sandbox import make_sandbox
from godel.task import load_task
task = load_task(Path(sys.argv[1]), ["sandbox.backend='zygote'", f"run.parallel={sys.argv[3]}"])
sandbox = make_sandbox(task.config.sandbox, slots=int(sys.argv[3]))
executor = LocalExecutor(task, sandbox)
with ThreadPoolExecutor(int(sys.argv[3])) as pool:
    results = list(pool.map(lambda i: executor.evaluate(task.program, label=f"c{i}"), range(int(sys.argv[2]))))
assert all(r.ok for r in results), [r.reason for r in results if not r.ok][:3]
sandbox.close()
"""


def sandbox_reference(work: Path, n: int, parallel: int) -> float:
    """CPU ms the sandbox itself spends per evaluation of this task (zygote, godel's evaluation harness, the same
    slots): a process evaluating the seed ``n`` times, less one evaluating it once, over ``n - 1``. No loop, no
    proposals, no archive: the floor under godel's CPU per candidate."""
    task = work / "sandbox-only"
    task.mkdir()
    (task / "initial_program.py").write_text(PROGRAM)
    (task / "evaluator.py").write_text(EVALUATOR)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT / "src"), env.get("PYTHONPATH", "")) if p)
    cpu = {}
    for k in (1, n):
        cmd = [sys.executable, "-c", _SANDBOX_ONLY, str(task), str(k), str(parallel)]
        _, cpu[k], rc = timed(cmd, env, work, work / "sandbox-only.log")
        if rc != 0:
            raise RuntimeError(f"sandbox reference failed: {(work / 'sandbox-only.log').read_text()[-2000:]}")
    return 1000 * (cpu[n] - cpu[1]) / (n - 1)


def _med(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--iterations", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--parallel", type=int, default=2)
    ap.add_argument("--variants", default="llm,mutate,guard-off,parallel-4")
    ap.add_argument("--json", type=Path, help="also write every run's row here")
    ap.add_argument(
        "--baseline-src",
        type=Path,
        help="another godel source tree (e.g. an export of an older commit's src/): its variants run alternated "
        "with this checkout's, labelled 'base'",
    )
    args = ap.parse_args()
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = [v for v in variants if v not in GODEL_VARIANTS]
    if unknown:
        ap.error(f"unknown variant(s) {unknown}; known: {', '.join(GODEL_VARIANTS)}")
    exe = ensure_openevolve()

    from godel.llm.testing import FakeChatServer

    rows: list[dict[str, Any]] = []
    sandbox_ms: list[float] = []
    with FakeChatServer(reply=Replies(), model=MODEL) as srv:
        for rnd in range(args.rounds):
            with tempfile.TemporaryDirectory(prefix="peer-bench-") as tmp:
                work = Path(tmp)
                # Alternate which system goes first, so a load spike at a round's start is shared out.
                runs: list[tuple[str, str]] = [("godel", v) for v in variants]
                if args.baseline_src is not None:
                    runs = [r for v in variants for r in (("godel", v), ("base", v))]
                order: list[tuple[str, str]] = [("openevolve", ""), *runs]
                if rnd % 2:
                    order = [*reversed(runs), ("openevolve", "")]
                for label, name in order:
                    if label == "openevolve":
                        row = run_openevolve(exe, srv.url, work, args.iterations, args.parallel)
                    else:
                        src = args.baseline_src if label == "base" else None
                        row = run_godel(name, srv.url, work, args.iterations, args.parallel, src, label)
                    row["round"] = rnd
                    rows.append(row)
                    print(
                        f"round {rnd} {row['system']:<18} {row['candidates']:>4} candidates "
                        f"{row['steady_per_s']:7.1f}/s steady  {row['wall_s']:5.2f} s wall  "
                        f"{row['cpu_ms_per_candidate']:6.2f} ms CPU/candidate",
                        file=sys.stderr,
                    )
                    if label == "openevolve":
                        sandbox_ms.append(sandbox_reference(work, args.iterations, args.parallel))
                        print(
                            f"round {rnd} sandbox alone: {sandbox_ms[-1]:.2f} ms CPU/evaluation",
                            file=sys.stderr,
                        )
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "sandbox_ms_per_evaluation": sandbox_ms}, indent=2))

    labels = ["godel", "base"] if args.baseline_src is not None else ["godel"]
    systems = ["openevolve", *(f"{label} {v}" for v in variants for label in labels)]
    oe = {r["round"]: r for r in rows if r["system"] == "openevolve"}
    print(
        f"\n{args.iterations} iterations, parallel {args.parallel}, {args.rounds} rounds (medians; ratios per round)"
    )
    head = f"{'system':<18} {'steady/s':>9} {'wall s':>7} {'CPU ms/cand':>12}   {'steady ratio min/med/max':>26}   {'wall ratio':>10}"
    print(head)
    print("-" * len(head))
    for name in systems:
        mine = [r for r in rows if r["system"] == name]
        rate = _med([r["steady_per_s"] for r in mine])
        wall = _med([r["wall_s"] for r in mine])
        cpu = _med([r["cpu_ms_per_candidate"] for r in mine])
        ratio = wall_ratio = ""
        if name != "openevolve":
            rs = sorted(r["steady_per_s"] / oe[r["round"]]["steady_per_s"] for r in mine)
            ws = [r["wall_s"] / oe[r["round"]]["wall_s"] for r in mine]
            ratio = f"{rs[0]:.2f} / {_med(rs):.2f} / {rs[-1]:.2f}x"
            wall_ratio = f"{_med(ws):.2f}x"
        print(f"{name:<18} {rate:9.1f} {wall:7.2f} {cpu:12.2f}   {ratio:>26}   {wall_ratio:>10}")
    if sandbox_ms:
        floor = _med(sandbox_ms)
        cores = os.cpu_count() or 1
        oe_rate = _med([r["steady_per_s"] for r in oe.values()])
        print(
            f"\nsandbox alone (zygote, same evaluator and slots, no loop): {floor:.2f} ms CPU per evaluation "
            f"(median of {len(sandbox_ms)}): on {cores} cores at most {1000 * cores / floor:.0f} evaluations/s, "
            f"{1000 * cores / floor / oe_rate:.2f}x OpenEvolve's median steady rate"
        )
        for name in systems[1:]:
            cpu = _med([r["cpu_ms_per_candidate"] for r in rows if r["system"] == name])
            print(f"  {name:<18} CPU per candidate {cpu:6.2f} ms = {cpu / floor:.2f}x the sandbox's own")


if __name__ == "__main__":
    main()
