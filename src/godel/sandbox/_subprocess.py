"""``unsafe-subprocess``: a fresh interpreter per job in its own session, killed as a whole process group.

It enforces wall time, CPU time (soft = hard), per-process data memory, process count (for non-root users),
output and result caps, and a temporary scratch directory that is removed afterwards. It does **not** contain
the job: no namespaces, no filesystem or network isolation. It exists for machines that cannot run the zygote and
for trusted code, and is only used behind an explicit flag.
"""

from __future__ import annotations

import contextlib
import os
import resource
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from godel.errors import SandboxError
from godel.sandbox._base import Job, Limits, SandboxResult, Termination

__all__ = ["SubprocessSandbox"]

_MAIN = "__godel_main__.py"


def _write_files(root: Path, job: Job) -> str | None:
    """Write the job's files under ``root``; the reason the job cannot run if a path escapes it (none written)."""
    base = root.resolve()
    targets = [((base / rel).resolve(), rel, content) for rel, content in job.files.items()]
    for target, rel, _ in targets:
        if base != target and base not in target.parents:
            return f"cannot write the job's files: job file {rel!r} escapes the scratch directory"
    for target, _, content in targets:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
    return None


def _preexec(limits: Limits) -> Callable[[], None]:
    def setup() -> None:
        os.setsid()
        cpu = max(1, int(limits.cpu + 0.999))
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu))
        mem = limits.memory_mb * 1024 * 1024
        # RLIMIT_DATA (the heap and private writable mappings: what a program fills), not RLIMIT_AS: native
        # runtimes reserve far more address space than they touch (JAX/XLA: 1.5 GB of it for a few MB of arrays,
        # and std::bad_alloc under a 1 GB RLIMIT_AS), and the same program runs outside.
        resource.setrlimit(resource.RLIMIT_DATA, (mem, mem))
        resource.setrlimit(resource.RLIMIT_FSIZE, (limits.disk_mb * 1024 * 1024,) * 2)
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if os.geteuid() != 0:
            resource.setrlimit(resource.RLIMIT_NPROC, (limits.max_processes,) * 2)

    return setup


class SubprocessSandbox:
    """Process-group sandbox without containment (see module docstring)."""

    name = "unsafe-subprocess"
    trusted = True
    server_pids: Sequence[int] = ()

    def __init__(self, python: str | None = None, *, isolated: bool = True) -> None:
        self.python = python or sys.executable
        self.isolation: dict[str, Any] = {"contained": False, "process_group_kill": True, "rlimits": True}
        # -I drops PYTHON* variables and the user site; site-packages stay so evaluators can import numpy & co.
        self._flags = ["-I"] if isolated else []

    def run(self, job: Job) -> SandboxResult:
        scratch = Path(tempfile.mkdtemp(prefix="godel-job-"))
        try:
            refused = _write_files(scratch, job)
            if refused is not None:
                return SandboxResult(
                    "error", None, backend=self.name, reason=refused, isolation=self.isolation
                )
            (scratch / _MAIN).write_text(job.code)
            return self._run(job, scratch)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    def _run(self, job: Job, scratch: Path) -> SandboxResult:
        limits = job.limits
        r_fd, w_fd = os.pipe()
        env = {"PATH": "/usr/bin:/bin", "HOME": str(scratch), "TMPDIR": str(scratch), "LANG": "C.UTF-8"}
        start = time.monotonic()
        try:
            # The write end must be fd 3 in the child; dup2 happens after fork via pass_fds + a wrapper.
            proc = subprocess.Popen(
                [self.python, *self._flags, "-c", _FD_SHIM, str(w_fd), _MAIN, *job.argv],
                cwd=scratch,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                pass_fds=(w_fd,),
                preexec_fn=_preexec(limits),
            )
        except OSError as exc:
            os.close(r_fd)
            os.close(w_fd)
            raise SandboxError(f"cannot start {self.python}: {exc}") from exc
        os.close(w_fd)
        out, err, res = bytearray(), bytearray(), bytearray()
        termination: Termination | None = None
        reason = ""
        sel = selectors.DefaultSelector()
        assert proc.stdout is not None and proc.stderr is not None
        sel.register(proc.stdout, selectors.EVENT_READ, out)
        sel.register(proc.stderr, selectors.EVENT_READ, err)
        sel.register(r_fd, selectors.EVENT_READ, res)
        deadline = start + limits.wall_seconds
        open_streams = 3
        while open_streams:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                termination, reason = "timeout", f"wall-clock limit of {limits.wall_seconds:g}s exceeded"
                break
            for key, _ in sel.select(timeout=min(remaining, 0.5)):
                fd = key.fd if isinstance(key.fileobj, int) else key.fileobj.fileno()  # type: ignore[union-attr]
                chunk = os.read(fd, 65536)
                if not chunk:
                    sel.unregister(key.fileobj)
                    open_streams -= 1
                    continue
                buf: bytearray = key.data
                buf.extend(chunk)
                if len(out) + len(err) > limits.output_bytes:
                    # Keep exactly the cap: what was read past it is dropped, as the other backends do.
                    del buf[max(0, len(buf) - (len(out) + len(err) - limits.output_bytes)) :]
                    termination, reason = "output_limit", f"output exceeded {limits.output_bytes} bytes"
                    break
                if len(res) > limits.result_bytes:
                    del res[limits.result_bytes :]
                    termination, reason = "output_limit", f"result exceeded {limits.result_bytes} bytes"
                    break
            if termination:
                break
        if termination:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
        sel.close()
        os.close(r_fd)
        proc.stdout.close()
        proc.stderr.close()
        # wait4 gives this child's own rusage (CPU and peak RSS), unlike RUSAGE_CHILDREN across threads.
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        # Anything the job left running in its group dies with it.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        wall = time.monotonic() - start
        cpu = usage.ru_utime + usage.ru_stime
        code = proc.returncode
        stderr = err.decode("utf-8", "replace")
        # Linux carries the forking parent's RSS high-water mark across exec into ru_maxrss, so a large host
        # process (a test runner, a long run) shows through. RLIMIT_DATA bounds what the job itself fills to the limit, so a
        # figure above it can only be the parent's: the limit is then the truthful upper bound.
        peak_mb = min(usage.ru_maxrss / 1024.0, float(limits.memory_mb))
        if termination is None:
            # RLIMIT_CPU with soft = hard ends the job by SIGKILL; the kernel counts CPU by scheduler runtime, which
            # rusage can report up to a tick or two lower, so the bound is loose.
            rlimit_cpu = max(1, int(limits.cpu + 0.999))
            if code == -signal.SIGXCPU or (code == -signal.SIGKILL and cpu >= 0.85 * rlimit_cpu):
                termination, reason = "cpu_limit", f"CPU limit of {limits.cpu:g}s exceeded"
            elif "MemoryError" in stderr[-4000:] and code != 0:
                termination, reason = "memory_limit", f"memory limit of {limits.memory_mb} MB exceeded"
            elif code != 0:
                termination = "error"
                reason = f"exit code {code}" if code > 0 else f"killed by signal {signal.Signals(-code).name}"
                last = stderr.strip().splitlines()[-1:]
                if last:
                    reason += f": {last[0][:300]}"
            else:
                termination = "ok"
        return SandboxResult(
            termination=termination,
            exit_code=code,
            stdout=out.decode("utf-8", "replace"),
            stderr=stderr,
            result=bytes(res) if res else None,
            wall_seconds=wall,
            cpu_seconds=cpu,
            peak_memory_mb=peak_mb,
            backend=self.name,
            reason=reason,
            isolation=self.isolation,
        )

    def close(self) -> None:
        return None


# Moves the inherited result pipe to fd 3, then runs the job file as __main__.
_FD_SHIM = (
    "import os,sys,runpy\n"
    "fd=int(sys.argv[1])\n"
    "if fd!=3:\n os.dup2(fd,3); os.close(fd)\n"
    "sys.argv=sys.argv[2:]\n"
    "sys.path.insert(0,os.getcwd())\n"
    "runpy.run_path(sys.argv[0],run_name='__main__')\n"
)
