"""How a zygote job ended: from what the host observed of it to its :class:`~godel.sandbox.SandboxResult`.

The host knows whether it killed the job itself (wall clock, output caps: ``killed``); otherwise the facts decide,
in this order: a set-up error (the job's own, e.g. a file escaping the scratch directory, or the sandbox's, which
is raised), an OOM kill in the slot's cgroup, the CPU rlimit, a ``MemoryError``, any other non-zero exit.
"""

from __future__ import annotations

import signal
from collections.abc import Mapping
from typing import Any

from godel.errors import SandboxError
from godel.sandbox._base import Job, Limits, SandboxResult, Termination

__all__ = ["finish", "result"]


def result(
    termination: Termination,
    code: int | None,
    *,
    backend: str,
    isolation: Mapping[str, Any],
    stdout: str = "",
    stderr: str = "",
    data: bytes | None = None,
    wall: float = 0.0,
    cpu: float = 0.0,
    peak: float = 0.0,
    reason: str = "",
    start: float | None = None,
) -> SandboxResult:
    return SandboxResult(
        termination=termination, exit_code=code, stdout=stdout, stderr=stderr, result=data,
        wall_seconds=wall, cpu_seconds=cpu, peak_memory_mb=peak, backend=backend, reason=reason,
        isolation=isolation, start_seconds=start,
    )  # fmt: skip


def _rlimit_cpu(limits: Limits) -> int:
    """The RLIMIT_CPU a job ran under (whole seconds, as _zygote_child._set_rlimits sets it)."""
    return max(1, int(limits.cpu + 0.999))


def finish(
    job: Job,
    done: dict[str, Any],
    out: bytearray,
    err: bytearray,
    res: bytearray,
    wall: float,
    killed: Termination | None,
    reason: str,
    *,
    backend: str,
    isolation: Mapping[str, Any],
) -> SandboxResult:
    """The result of a job that ended: ``done`` holds its exit code, CPU, memory figures and set-up records."""
    limits = job.limits
    termination = killed
    code: int = done["exit"]
    cpu = float(done["cpu"])
    peak_bytes = done.get("peak_bytes")
    peak = peak_bytes / 2**20 if peak_bytes else float(done["maxrss_kb"]) / 1024.0
    stderr = err.decode("utf-8", "replace")
    setup = done.get("setup_error")
    if termination is None and setup:
        if setup.get("kind") != "job":
            raise SandboxError(f"the sandbox could not set up the job: {setup.get('message')}")
        termination, reason = "error", str(setup.get("message"))
    if termination is None:
        if done.get("oom_kills") and code != 0:
            termination, reason = (
                "memory_limit",
                f"memory limit of {limits.memory_mb} MB exceeded (OOM kill)",
            )
        elif code in (-signal.SIGXCPU, -signal.SIGKILL) and float(done["cpu_total"]) >= 0.8 * _rlimit_cpu(
            limits
        ):
            # RLIMIT_CPU counts the child's set-up too (an exec-mode child's boot takes up to ~0.2 s), which the
            # job's own ``cpu`` leaves out: compare what the kernel compared. The kernel counts scheduler runtime,
            # which rusage reported up to 0.14 s lower at a 1 s limit here, so the bound is loose; below it a
            # SIGKILL is the job's own (it is not PID 1 of its namespace, so its signals reach it).
            termination, reason = "cpu_limit", f"CPU limit of {limits.cpu:g}s exceeded"
        elif code != 0 and "MemoryError" in stderr[-4000:]:
            termination, reason = (
                "memory_limit",
                f"memory limit of {limits.memory_mb} MB exceeded (MemoryError)",
            )
        elif code != 0:
            termination = "error"
            reason = f"exit code {code}" if code > 0 else f"killed by signal {signal.Signals(-code).name}"
            last = stderr.strip().splitlines()[-1:] if stderr.strip() else []
            if last:
                reason += f": {last[0][:300]}"
        else:
            termination = "ok"
    return result(
        termination, code, backend=backend, isolation=isolation, stdout=out.decode("utf-8", "replace"),
        stderr=stderr, data=bytes(res) if res else None, wall=wall, cpu=cpu, peak=peak, reason=reason,
        start=done.get("start_seconds"),
    )  # fmt: skip
