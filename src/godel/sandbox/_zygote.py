"""``zygote`` and ``exec``: a fork-server per worker slot that runs each job in fresh namespaces.

See :mod:`godel.sandbox._zygote_server` for what happens inside. This module is the host side: it starts one
server per slot (empty environment, its own cgroup), hands each job straight to a prepared child waiting on this
thread's CPU, and supervises it from outside: wall clock, output and result caps, and SIGKILL of the child, which is
PID 1 of its pid namespace, so nothing the job started survives. The children are this process's own (the server
clones them with CLONE_PARENT): their exit status and CPU time come straight from ``wait4`` the moment a job ends,
peak memory and OOM kills from the slot's cgroup.
"""

from __future__ import annotations

import collections
import contextlib
import ctypes
import json
import marshal
import os
import queue
import selectors
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar, cast

import godel.sandbox._cgroup as _cgroup
import godel.sandbox._linux as _linux
from godel.errors import SandboxError
from godel.sandbox._base import Job, Limits, SandboxResult, Termination
from godel.sandbox._zygote_server import decode_records

__all__ = ["DEFAULT_PRELOAD", "ZygoteSandbox", "sandbox_paths"]

DEFAULT_PRELOAD = (
    "json", "math", "random", "re", "collections", "itertools", "functools", "dataclasses", "typing",
    "importlib.util", "traceback", "numbers", "statistics", "ast", "heapq", "bisect", "string", "textwrap",
    "fractions", "decimal", "copy", "enum", "time", "datetime", "resource", "linecache", "atexit", "threading",
)  # fmt: skip
_HERE = Path(__file__).resolve().parent
_SERVER_BOOT = """
import importlib.util, json, sys, types
cfg = json.loads(sys.argv[1])
for name in ("godel", "godel.sandbox"):
    pkg = types.ModuleType(name); pkg.__path__ = []; sys.modules[name] = pkg
def load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec); sys.modules[name] = mod; spec.loader.exec_module(mod)
    return mod
load("godel.sandbox._linux", cfg["linux_path"])
load("godel.sandbox._zygote_server", cfg["server_path"]).server_main(cfg)
"""
_UID_BASE = 2_000_000_000
_START_TIMEOUT = 60.0
_KILL_GRACE = 10.0


def _inside(path: str, base: str) -> bool:
    return path == base or path.startswith(base.rstrip("/") + "/")


def sandbox_paths() -> tuple[list[str], list[str]]:
    """(directories bound read-only into the private root, sys.path of the jobs).

    Only ``/usr``, the interpreter's prefix and the site-packages directories: never the project, the home
    directory or anything else an editable install or a ``.pth`` file put on ``sys.path``.
    """
    wanted = {"/usr", os.path.realpath(sys.base_prefix)}
    for entry in sys.path:
        if entry and os.path.isdir(entry) and Path(entry).name in ("site-packages", "dist-packages"):
            wanted.add(os.path.realpath(entry))
    binds = sorted(p for p in wanted if os.path.isdir(p) and p != "/")
    binds = [p for p in binds if not any(q != p and _inside(p, q) for q in binds)]
    real = [os.path.realpath(e) for e in sys.path if e and os.path.isdir(e)]
    path = [e for e in real if any(_inside(e, b) for b in binds)]
    return binds, list(dict.fromkeys(path))


def _root_mountpoint(binds: list[str]) -> str:
    # Only mounted over inside the server's private mount namespace; the host never sees it.
    for candidate in ("/srv", "/media", "/opt", "/mnt"):
        if os.path.isdir(candidate) and not any(
            _inside(b, candidate) or _inside(candidate, b) for b in binds
        ):
            return candidate
    raise SandboxError("no directory to build the sandbox root on", hint="create an empty /srv directory")


@dataclass
class _Ready:
    """A prepared child waiting for its job: our child (CLONE_PARENT), so we reap it whatever happens to it."""

    cid: int
    pid: int
    job: socket.socket
    out: int
    err: int
    res: int
    report: int
    pidfd: int

    def discard(self) -> None:
        """Kill and reap an unused child (it never ran a job)."""
        self.job.close()
        for fd in (self.out, self.err, self.res, self.report):
            with contextlib.suppress(OSError):
                os.close(fd)
        with contextlib.suppress(OSError):
            signal.pidfd_send_signal(self.pidfd, signal.SIGKILL)
        _reap(self.pid)
        with contextlib.suppress(OSError):
            os.close(self.pidfd)


def _read_all(fd: int) -> bytes:
    """What is left in a pipe whose writers are gone; closes it."""
    parts = []
    try:
        while chunk := os.read(fd, 1 << 16):
            parts.append(chunk)
    except OSError:
        pass
    finally:
        os.close(fd)
    return b"".join(parts)


def _reap(pid: int) -> tuple[int, Any] | None:
    """wait4 our child: (exit code, rusage), or None if it is not ours to reap (already reaped)."""
    while True:
        try:
            _, status, usage = os.wait4(pid, 0)
        except InterruptedError:
            continue
        except ChildProcessError:
            return None
        return os.waitstatus_to_exitcode(status), usage


class _ServerDied(Exception):
    pass


_T = TypeVar("_T")


class _Spawner:
    """One long-lived thread that starts every sandbox server.

    The jobs are our children (CLONE_PARENT) and die with their parent through PR_SET_PDEATHSIG, but the kernel's
    parent is a thread: the signal fires when the thread that started their server ends. Servers started from a
    thread that lives as long as the process make the jobs die with the engine, and only with it.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pid = 0
        self._requests: queue.SimpleQueue[tuple[Callable[[], Any], queue.SimpleQueue[Any]]] = (
            queue.SimpleQueue()
        )

    def call(self, fn: Callable[[], _T]) -> _T:
        with self._lock:
            if self._pid != os.getpid():  # first use, or a forked copy of the engine without the thread
                self._requests = queue.SimpleQueue()
                threading.Thread(
                    target=self._serve, args=(self._requests,), name="godel-spawner", daemon=True
                ).start()
                self._pid = os.getpid()
            requests = self._requests
        answer: queue.SimpleQueue[tuple[bool, Any]] = queue.SimpleQueue()
        requests.put((fn, answer))
        ok, value = answer.get()
        if not ok:
            raise value
        return cast(_T, value)

    @staticmethod
    def _serve(requests: queue.SimpleQueue[tuple[Callable[[], Any], queue.SimpleQueue[Any]]]) -> None:
        while True:
            fn, answer = requests.get()
            try:
                answer.put((True, fn()))
            except BaseException as exc:
                answer.put((False, exc))


_spawner = _Spawner()


_libc = ctypes.CDLL(None, use_errno=True)


def _pin_to_this_cpu(pid: int) -> None:
    """Let a waiting child wake on the CPU this thread runs on.

    The thread is about to block until the job ends, so the child runs here at once; waking it on another, idle
    CPU costs a cross-CPU wake-up, which on a virtual machine with halted vCPUs was 0.3-0.5 ms, more than the rest
    of the job start. The child widens its affinity again as soon as it has the job.
    """
    cpu = _libc.sched_getcpu()
    if cpu >= 0:
        with contextlib.suppress(OSError):
            os.sched_setaffinity(pid, (cpu,))


def _read_int(fd: int) -> int | None:
    try:
        text = os.pread(fd, 64, 0).decode().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


class _Slot:
    def __init__(self, box: ZygoteSandbox, index: int) -> None:
        self.box = box
        self.index = index
        self.uid = box.uid_base + index
        self.proc: subprocess.Popen[bytes] | None = None
        self.ctl: socket.socket | None = None
        self.cgroup: _cgroup.SlotCgroup | None = None
        self.cg_fds: dict[str, int] = {}
        self.oom_base = 0
        self.ready: collections.deque[_Ready] = collections.deque()
        self.server_pid = 0

    # life cycle

    def start(self) -> None:
        box = self.box
        if box.cgroups.usable:
            try:
                self.cgroup = _cgroup.create_slot_cgroup(box.cgroups, self.index)
                self.cg_fds = self.cgroup.open_files()
            except OSError as exc:
                self.stop()
                raise SandboxError(f"cannot create the slot's cgroup: {exc}") from exc
        self.oom_base = self._oom_count()
        host, server = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        cfg = {
            "mode": box.mode, "ctl_fd": server.fileno(), "uid": self.uid, "gid": self.uid,
            "python": os.path.realpath(sys.executable), "binds": box.binds, "sys_path": box.sys_path,
            "root_mountpoint": box.root_mountpoint, "cg_fds": self.cg_fds,
            "ready": box.ready_children, "proc": box.proc, "preload": list(box.preload),
            "landlock_abi": box.landlock_abi, "seccomp": box.seccomp, "disk_mb": Limits().disk_mb,
            "cpus": sorted(os.sched_getaffinity(0)),
            "linux_path": str(_HERE / "_linux.py"), "server_path": str(_HERE / "_zygote_server.py"),
        }  # fmt: skip
        try:
            # An empty environment: no API keys or other secrets reach the server or, through fork, the jobs.
            self.proc = _spawner.call(
                lambda: subprocess.Popen(
                    [sys.executable, "-I", "-c", _SERVER_BOOT, json.dumps(cfg)],
                    env={},
                    cwd="/",
                    pass_fds=(server.fileno(), *self.cg_fds.values()),
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                    start_new_session=True,
                )
            )
        except OSError as exc:
            self.stop()
            raise SandboxError(f"cannot start the sandbox server: {exc}") from exc
        finally:
            server.close()
        self.ctl = host
        host.settimeout(_START_TIMEOUT)
        try:
            msg = self._recv()
        except (_ServerDied, TimeoutError, OSError) as exc:
            msg = {"t": "fatal", "message": f"no answer ({exc})"}
        host.settimeout(None)
        if msg.get("t") != "hello":
            detail = msg.get("message", "")
            self.stop()
            raise SandboxError(
                f"the zygote sandbox server failed to start: {detail}",
                hint="run `godel doctor` to see which isolation features this machine lacks",
            )
        self.server_pid = int(msg["pid"])

    def stop(self) -> None:
        for ready in self.ready:
            ready.discard()
        self.ready.clear()
        if self.ctl is not None:
            self.ctl.close()
            self.ctl = None
        if self.proc is not None:
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
            if self.proc.stderr is not None:
                self.proc.stderr.close()
            self.proc = None
            self._reap_strays()
        for fd in self.cg_fds.values():
            with contextlib.suppress(OSError):
                os.close(fd)
        self.cg_fds = {}
        if self.cgroup is not None:
            self.cgroup.remove()
            self.cgroup = None

    def _reap_strays(self) -> None:
        """Kill and reap children of ours from this slot that we never heard of: a server that ended between
        cloning a child and announcing it leaves one behind (our child through CLONE_PARENT, named for the slot)."""
        name = _linux.process_name(self.uid)
        me = os.getpid()
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat", "rb") as fh:
                    head, _, tail = fh.read().rpartition(b")")
            except OSError:
                continue
            comm = head.partition(b"(")[2].decode("utf-8", "replace")
            fields = tail.split()
            if comm == name and len(fields) > 1 and int(fields[1]) == me:
                with contextlib.suppress(OSError):
                    os.kill(int(entry), signal.SIGKILL)
                _reap(int(entry))

    def _server_stderr(self) -> str:
        if self.proc is None or self.proc.stderr is None:
            return ""
        os.set_blocking(self.proc.stderr.fileno(), False)
        try:
            data = self.proc.stderr.read() or b""
        except OSError:
            data = b""
        return data.decode("utf-8", "replace")[-2000:]

    def _recv(self) -> dict[str, Any]:
        assert self.ctl is not None
        data, fds, _, _ = socket.recv_fds(self.ctl, 65536, 8)
        if not data:
            for fd in fds:
                os.close(fd)
            raise _ServerDied
        msg: dict[str, Any] = json.loads(data)
        if msg.get("t") == "ready" and len(fds) == 6:
            job, out, err, res, report, pidfd = fds
            self.ready.append(
                _Ready(msg["cid"], msg["pid"], socket.socket(fileno=job), out, err, res, report, pidfd)
            )
        elif fds:
            for fd in fds:
                os.close(fd)
        if msg.get("t") == "lost":
            for ready in list(self.ready):
                if ready.cid == msg["cid"]:
                    self.ready.remove(ready)
                    ready.discard()
        return msg

    def _died(self, during: str) -> SandboxError:
        """Clean up after the server ended unexpectedly; the next run starts a new one."""
        stderr = self._server_stderr()
        code = self.proc.poll() if self.proc is not None else None
        if self.proc is not None and code is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
        if self.cgroup is not None:
            self.cgroup.kill_all()
        self.stop()
        detail = f" (exit status {code})" if code is not None else ""
        tail = f": {stderr.strip().splitlines()[-1]}" if stderr.strip() else ""
        return SandboxError(f"the sandbox server of slot {self.index} died {during}{detail}{tail}")

    def _take_ready(self) -> _Ready:
        deadline = time.monotonic() + _START_TIMEOUT
        assert self.ctl is not None
        while not self.ready:
            left = deadline - time.monotonic()
            if left <= 0:
                raise self._died("without offering a sandboxed child in time")
            self.ctl.settimeout(left)
            try:
                msg = self._recv()
            except TimeoutError:
                continue
            except (_ServerDied, OSError):
                raise self._died("while preparing a child") from None
            finally:
                if self.ctl is not None:
                    self.ctl.settimeout(None)
            if msg.get("t") == "fatal":
                raise self._died(f"while preparing a child: {msg.get('message')}")
        return self.ready.popleft()

    # cgroup reads (through the descriptors the children write through)

    def _oom_count(self) -> int:
        fd = self.cg_fds.get("mem_events")
        if fd is None:
            return 0
        try:
            text = os.pread(fd, 4096, 0).decode()
        except OSError:
            return 0
        for line in text.splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill" and value.strip().isdigit():
                return int(value)
        return 0

    # one job

    def run(self, job: Job) -> SandboxResult:
        if self.proc is None or self.proc.poll() is not None:
            if self.proc is not None:
                self.stop()
            self.start()
        limits = job.limits
        files = [(str(k), bytes(v)) for k, v in job.files.items()]
        total = sum(len(v) for _, v in files)
        if total > limits.disk_mb * 1024 * 1024:
            return self._result("error", None, reason=f"the job's files ({total} bytes) exceed the disk limit "
                                f"of {limits.disk_mb} MB")  # fmt: skip
        lim = {
            "wall_seconds": limits.wall_seconds, "cpu_seconds": limits.cpu, "memory_mb": limits.memory_mb,
            "max_processes": limits.max_processes, "disk_mb": limits.disk_mb,
        }  # fmt: skip
        payload = marshal.dumps((job.code, files, list(job.argv), lim))
        for attempt in range(3):
            child = self._take_ready()
            _pin_to_this_cpu(child.pid)
            start = time.monotonic()
            try:
                child.job.sendall(struct.pack("<Q", len(payload)) + payload)
                child.job.close()
            except OSError:
                # The child died before reading its job (infrastructure, not the job): use the next one.
                child.discard()
                if attempt == 2:
                    raise self._died("while receiving a job") from None
                continue
            return self._supervise(child, job, start)
        raise AssertionError("unreachable")

    def _supervise(self, child: _Ready, job: Job, start: float) -> SandboxResult:
        limits = job.limits
        assert self.ctl is not None
        sel = selectors.DefaultSelector()
        bufs = {child.out: bytearray(), child.err: bytearray(), child.res: bytearray()}
        # The report pipe is read once the child has ended: a wake-up per set-up record would preempt the job on
        # this CPU (the records are tiny and wait in the pipe).
        for fd in bufs:
            sel.register(fd, selectors.EVENT_READ)
        sel.register(self.ctl, selectors.EVENT_READ)
        sel.register(child.pidfd, selectors.EVENT_READ)
        open_pipes = len(bufs)
        exited: tuple[int, Any] | None = None
        termination: Termination | None = None
        reason = ""
        deadline = start + limits.wall_seconds
        kill_deadline = 0.0
        server_dead = False

        def kill(term: Termination, why: str) -> None:
            nonlocal termination, reason, kill_deadline
            if termination is None:
                termination, reason = term, why
            with contextlib.suppress(OSError):
                signal.pidfd_send_signal(child.pidfd, signal.SIGKILL)
            if not kill_deadline:
                kill_deadline = time.monotonic() + _KILL_GRACE

        try:
            while open_pipes or exited is None:
                now = time.monotonic()
                if kill_deadline:
                    left = kill_deadline - now
                    if left <= 0:
                        # Only a process outside the job's pid namespace could hold its pipes this long.
                        raise self._died("or hung: a killed job did not end")
                else:
                    left = deadline - now
                    if left <= 0:
                        kill("timeout", f"wall-clock limit of {limits.wall_seconds:g}s exceeded")
                        continue
                for key, _ in sel.select(timeout=left):
                    fd = int(key.fd)
                    if key.fileobj is self.ctl:
                        try:
                            msg = self._recv()
                        except (_ServerDied, OSError):
                            server_dead = True
                            sel.unregister(self.ctl)
                            kill("error", "the sandbox server died")
                            continue
                        if msg.get("t") == "fatal":
                            server_dead = True
                            kill("error", "the sandbox server failed")
                        continue
                    if fd == child.pidfd:
                        # PID 1 of the job's namespace ended, so everything the job started has ended too.
                        sel.unregister(fd)
                        exited = _reap(child.pid)
                        if exited is None:
                            raise SandboxError(
                                f"the sandboxed child {child.pid} was reaped by someone else",
                                hint="something in this process waits for any child (waitpid(-1) in a SIGCHLD "
                                "handler?): the sandbox's jobs are children of this process",
                            )
                        if open_pipes and not kill_deadline:
                            kill_deadline = time.monotonic() + _KILL_GRACE
                        continue
                    try:
                        chunk = os.read(fd, 1 << 16)
                    except OSError:
                        chunk = b""
                    if not chunk:
                        sel.unregister(fd)
                        open_pipes -= 1
                        continue
                    if termination is not None:
                        continue  # draining after a kill
                    buf = bufs[fd]
                    buf += chunk
                    if fd == child.res:
                        if len(buf) > limits.result_bytes:
                            del buf[limits.result_bytes :]
                            kill("output_limit", f"result exceeded {limits.result_bytes} bytes")
                    elif len(bufs[child.out]) + len(bufs[child.err]) > limits.output_bytes:
                        del buf[
                            max(
                                0,
                                limits.output_bytes
                                - (len(bufs[child.out]) + len(bufs[child.err]) - len(buf)),
                            ) :
                        ]
                        kill("output_limit", f"output exceeded {limits.output_bytes} bytes")
        finally:
            sel.close()
            if exited is None:
                with contextlib.suppress(OSError):
                    signal.pidfd_send_signal(child.pidfd, signal.SIGKILL)
                _reap(child.pid)
            report = _read_all(child.report)
            for fd in (child.out, child.err, child.res, child.pidfd):
                with contextlib.suppress(OSError):
                    os.close(fd)
        if server_dead:
            raise self._died("during the job; its processes were killed")
        wall = time.monotonic() - start
        code, usage = exited
        records = decode_records(report)
        taken = next((r for r in records if r.get("t") == "taken"), None)
        went = next((r for r in records if r.get("t") == "go"), None)
        error = next((r for r in records if r.get("t") == "error"), None)
        peak = _read_int(self.cg_fds["mem_peak"]) if "mem_peak" in self.cg_fds else None
        oom = self._oom_count()
        oom_kills, self.oom_base = oom - self.oom_base, oom
        mem_base = int(taken.get("mem_base", 0)) if taken else 0
        # The child booted, prepared and confined itself before the job's code ran: that CPU time is the sandbox's.
        cpu_before = float(went.get("cpu_before", 0.0)) if went else 0.0
        # CLOCK_MONOTONIC is one clock for every process here (no time namespace), so the child's stamp compares.
        start_seconds = max(0.0, float(went["at"]) - start) if went and "at" in went else None
        done = {
            "exit": code, "cpu": max(0.0, usage.ru_utime + usage.ru_stime - cpu_before),
            "maxrss_kb": usage.ru_maxrss,
            "peak_bytes": max(0, peak - mem_base) if peak is not None else None, "oom_kills": oom_kills,
            "start_seconds": start_seconds,
            "setup_error": None if went else error or {
                "kind": "infra", "message": f"the sandboxed child died during set-up (exit status {code})"},
        }  # fmt: skip
        return self._finish(
            job, done, bufs[child.out], bufs[child.err], bufs[child.res], wall, termination, reason
        )

    def _finish(
        self,
        job: Job,
        done: dict[str, Any],
        out: bytearray,
        err: bytearray,
        res: bytearray,
        wall: float,
        termination: Termination | None,
        reason: str,
    ) -> SandboxResult:
        limits = job.limits
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
            elif code in (-signal.SIGXCPU, -signal.SIGKILL) and cpu >= limits.cpu - 0.1:
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
        return self._result(
            termination, code, stdout=out.decode("utf-8", "replace"), stderr=stderr,
            result=bytes(res) if res else None, wall=wall, cpu=cpu, peak=peak, reason=reason,
            start=done.get("start_seconds"),
        )  # fmt: skip

    def _result(
        self,
        termination: Termination,
        code: int | None,
        *,
        stdout: str = "",
        stderr: str = "",
        result: bytes | None = None,
        wall: float = 0.0,
        cpu: float = 0.0,
        peak: float = 0.0,
        reason: str = "",
        start: float | None = None,
    ) -> SandboxResult:
        return SandboxResult(
            termination=termination, exit_code=code, stdout=stdout, stderr=stderr, result=result,
            wall_seconds=wall, cpu_seconds=cpu, peak_memory_mb=peak, backend=self.box.name, reason=reason,
            isolation=self.box.isolation, start_seconds=start,
        )  # fmt: skip


class ZygoteSandbox:
    """Fork-server sandbox (``mode="fork"``, name ``zygote``) or its fresh-interpreter variant (``"exec"``).

    ``slots`` servers run side by side; :meth:`run` is thread-safe and blocks while every slot is busy.
    """

    trusted = False

    def __init__(
        self,
        slots: int = 2,
        mode: Literal["fork", "exec"] = "fork",
        *,
        preload: tuple[str, ...] = DEFAULT_PRELOAD,
        proc: bool = True,
        cgroups: bool = True,
        landlock: bool = True,
        seccomp: bool = True,
    ) -> None:
        if mode not in ("fork", "exec"):
            raise SandboxError(f"unknown zygote mode {mode!r}", hint="use 'fork' or 'exec'")
        if slots < 1:
            raise SandboxError("a sandbox needs at least one slot")
        if os.geteuid() != 0:
            raise SandboxError(
                "the zygote sandbox needs root (it creates namespaces, mounts and cgroups, then drops to an "
                "unprivileged uid for each job)",
                hint="run as root (e.g. in a container or VM), or pass --allow-unsafe for unsafe-subprocess",
            )
        if signal.getsignal(signal.SIGCHLD) is signal.SIG_IGN:
            # The jobs are this process's children: with SIGCHLD ignored the kernel reaps them itself and their
            # exit status and resource usage are lost.
            raise SandboxError(
                "SIGCHLD is ignored in this process, so the sandbox could not learn how its jobs ended",
                hint="restore the default: signal.signal(signal.SIGCHLD, signal.SIG_DFL)",
            )
        self.mode = mode
        self.name = "zygote" if mode == "fork" else "exec"
        self.preload = preload if mode == "fork" else ()
        self.proc = proc
        self.ready_children = 2
        self.cgroups = _cgroup.detect() if cgroups else _cgroup.CgroupSupport(None, None, None, "disabled")
        if self.cgroups.usable:
            _cgroup.clean_stale(self.cgroups)
        self.landlock_abi = _linux.landlock_abi() if landlock else 0
        self.seccomp = bool(seccomp and _linux.syscall_numbers() is not None)
        self.binds, self.sys_path = sandbox_paths()
        self.root_mountpoint = _root_mountpoint(self.binds)
        self.uid_base = _UID_BASE + (os.getpid() % 1_000_000) * 64
        self.isolation: dict[str, Any] = {
            "contained": True, "backend": self.name, "mode": mode,
            "namespaces": ["pid", "mount", "ipc", "uts", "net (shared, empty)"], "private_root": True,
            "read_only_root": True, "non_root_uid": True, "capabilities": "none", "no_new_privs": True,
            "landlock_abi": self.landlock_abi, "seccomp": self.seccomp,
            "cgroup": f"v{self.cgroups.version}" if self.cgroups.usable else None,
            "memory_limit": "cgroup (all processes)" if self.cgroups.usable else "rlimit (per process)",
            "process_limit": "cgroup" if self.cgroups.usable else "rlimit (per uid)",
            "disk_limit": "tmpfs", "rlimits": True, "kill": "pid namespace",
            "shares_memory_with_server": mode == "fork",
        }  # fmt: skip
        self._slots = [_Slot(self, i) for i in range(slots)]
        self._idle: queue.SimpleQueue[_Slot] = queue.SimpleQueue()
        self._closed = False
        self._lock = threading.Lock()
        errors: list[BaseException] = []

        def start(slot: _Slot) -> None:
            try:
                slot.start()
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=start, args=(s,)) for s in self._slots]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            self.close()
            raise errors[0]
        for slot in self._slots:
            self._idle.put(slot)
        self._finalizer = weakref.finalize(self, _close_slots, list(self._slots))

    @property
    def uids(self) -> list[int]:
        """The uids jobs run as (one per slot): no process of these uids may outlive its job."""
        return [s.uid for s in self._slots]

    @property
    def server_pids(self) -> list[int]:
        return [s.proc.pid for s in self._slots if s.proc is not None]

    def run(self, job: Job) -> SandboxResult:
        if self._closed:
            raise SandboxError("the sandbox is closed")
        slot = self._idle.get()
        try:
            return slot.run(job)
        finally:
            self._idle.put(slot)

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
        _close_slots(self._slots)
        with contextlib.suppress(AttributeError):
            self._finalizer.detach()

    def __enter__(self) -> ZygoteSandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _close_slots(slots: list[_Slot]) -> None:
    for slot in slots:
        with contextlib.suppress(Exception):
            slot.stop()
