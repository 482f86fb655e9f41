"""Start-to-result overhead and throughput of the sandbox backends (``godel sandbox bench`` and the benchmark).

The job is trivial (``pass``), so the figures are the sandbox's own cost: p50/p90 of the wall time from
``run()`` to its result on one slot, and evaluations per second with every slot busy.
"""

from __future__ import annotations

import os
import resource
import statistics
import threading
import time
from collections.abc import Sequence
from typing import Any

from godel.config import SandboxConfig
from godel.errors import GodelError, SandboxError
from godel.sandbox._base import Job, Limits, Sandbox
from godel.sandbox._factory import make_sandbox

__all__ = ["BENCH_BACKENDS", "bench", "format_bench"]

BENCH_BACKENDS = ("zygote", "exec", "unsafe-subprocess", "wasm")
_TRIVIAL = Job(code="pass", limits=Limits(wall_seconds=30.0), label="bench")


def _make(name: str, slots: int) -> Sandbox:
    if name not in BENCH_BACKENDS:
        raise SandboxError(
            f"unknown sandbox backend {name!r}", hint=f"choose from {', '.join(BENCH_BACKENDS)}"
        )
    return make_sandbox(SandboxConfig(backend=name, allow_unsafe=name == "unsafe-subprocess"), slots)  # type: ignore[arg-type]


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _tree_cpu(box: Sandbox) -> float:
    """CPU seconds used so far by this process, its reaped children and the sandbox's servers (with theirs)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    total = own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime
    tick = os.sysconf("SC_CLK_TCK")
    for pid in box.server_pids:
        try:
            with open(f"/proc/{pid}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += sum(int(x) for x in fields[11:15]) / tick  # utime stime cutime cstime
    return total


def _one(name: str, n: int, slots: int, warmup: int) -> dict[str, Any]:
    row: dict[str, Any] = {"backend": name, "n": n, "slots": slots}
    try:
        box = _make(name, slots)
    except GodelError as exc:
        row.update(available=False, error=str(exc))
        return row
    try:
        for _ in range(warmup):
            box.run(_TRIVIAL)
        times: list[float] = []
        cpu0 = _tree_cpu(box)
        for _ in range(n):
            t0 = time.perf_counter()
            res = box.run(_TRIVIAL)
            times.append(time.perf_counter() - t0)
            if not res.ok:
                raise GodelError(f"trivial job failed on {name}: {res.termination} {res.reason}")
        cpu_per_eval = (_tree_cpu(box) - cpu0) / n
        per_thread = max(1, n // slots)
        failures: list[str] = []

        def worker() -> None:
            for _ in range(per_thread):
                res = box.run(_TRIVIAL)
                if not res.ok:
                    failures.append(res.reason)

        threads = [threading.Thread(target=worker) for _ in range(slots)]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - t0
        row.update(
            available=True,
            p50_ms=round(statistics.median(times) * 1000, 3),
            p90_ms=round(_percentile(times, 0.9) * 1000, 3),
            min_ms=round(min(times) * 1000, 3),
            evals_per_s=round(per_thread * slots / elapsed, 1),
            cpu_ms_per_eval=round(cpu_per_eval * 1000, 3),
            failures=len(failures),
        )
    except GodelError as exc:
        row.update(available=False, error=str(exc))
    finally:
        box.close()
    return row


def bench(
    backends: Sequence[str] = BENCH_BACKENDS, n: int = 200, *, slots: int = 2, warmup: int = 10
) -> list[dict[str, Any]]:
    """One row per backend: p50/p90/min start-to-result overhead (ms) and evaluations/s on ``slots`` slots."""
    return [_one(name, n, slots, warmup) for name in backends]


def format_bench(rows: Sequence[dict[str, Any]]) -> str:
    lines = [
        f"{'backend':<18} {'p50 ms':>8} {'p90 ms':>8} {'min ms':>8} {'evals/s':>9} {'cpu ms/eval':>12}  note"
    ]
    for row in rows:
        if row.get("available"):
            lines.append(
                f"{row['backend']:<18} {row['p50_ms']:>8.2f} {row['p90_ms']:>8.2f} {row['min_ms']:>8.2f} "
                f"{row['evals_per_s']:>9.1f} {row['cpu_ms_per_eval']:>12.2f}  n={row['n']}, {row['slots']} slots"
            )
        else:
            lines.append(
                f"{row['backend']:<18} {'-':>8} {'-':>8} {'-':>8} {'-':>9} {'-':>12}  {row.get('error', '')[:80]}"
            )
    return "\n".join(lines)
