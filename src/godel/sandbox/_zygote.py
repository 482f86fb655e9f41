"""``zygote`` and ``exec``: a fork-server per worker slot that runs each job in fresh namespaces.

See :mod:`godel.sandbox._zygote_server` for what happens inside. This module is the host side: it starts one
server per slot (empty environment, its own cgroup), hands each job straight to a waiting child, and supervises it
from outside: wall clock, output and result caps, and SIGKILL of the child, which is PID 1 of its pid namespace, so
nothing the job started survives. Exit status, CPU time, peak memory and OOM kills come from the kernel.
"""

from __future__ import annotations

import collections
import contextlib
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
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from godel.errors import SandboxError
from godel.sandbox import _cgroup, _linux
from godel.sandbox._base import Job, Limits, SandboxResult, Termination

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
    cid: int
    pid: int
    job: socket.socket
    out: int
    err: int
    res: int
    pidfd: int

    def close(self) -> None:
        self.job.close()
        for fd in (self.out, self.err, self.res, self.pidfd):
            with contextlib.suppress(OSError):
                os.close(fd)


class _ServerDied(Exception):
    pass


class _Slot:
    def __init__(self, box: ZygoteSandbox, index: int) -> None:
        self.box = box
        self.index = index
        self.uid = box.uid_base + index
        self.proc: subprocess.Popen[bytes] | None = None
        self.ctl: socket.socket | None = None
        self.cgroup: _cgroup.SlotCgroup | None = None
        self.ready: collections.deque[_Ready] = collections.deque()
        self.server_pid = 0

    # life cycle

    def start(self) -> None:
        box = self.box
        if box.cgroups.usable:
            try:
                self.cgroup = _cgroup.create_slot_cgroup(box.cgroups, self.index)
            except OSError as exc:
                raise SandboxError(f"cannot create the slot's cgroup: {exc}") from exc
        host, server = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        cfg = {
            "mode": box.mode, "ctl_fd": server.fileno(), "uid": self.uid, "gid": self.uid,
            "python": os.path.realpath(sys.executable), "binds": box.binds, "sys_path": box.sys_path,
            "root_mountpoint": box.root_mountpoint, "cgroup": self.cgroup.files if self.cgroup else None,
            "ready": box.ready_children, "proc": box.proc, "preload": list(box.preload),
            "landlock_abi": box.landlock_abi, "seccomp": box.seccomp, "disk_mb": Limits().disk_mb,
            "linux_path": str(_HERE / "_linux.py"), "server_path": str(_HERE / "_zygote_server.py"),
        }  # fmt: skip
        try:
            # An empty environment: no API keys or other secrets reach the server or, through fork, the jobs.
            self.proc = subprocess.Popen(
                [sys.executable, "-I", "-c", _SERVER_BOOT, json.dumps(cfg)],
                env={},
                cwd="/",
                pass_fds=(server.fileno(),),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                start_new_session=True,
            )
        except OSError as exc:
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
            ready.close()
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
        if self.cgroup is not None:
            self.cgroup.remove()
            self.cgroup = None

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
        if msg.get("t") == "ready":
            job, out, err, res, pidfd = fds
            self.ready.append(_Ready(msg["cid"], msg["pid"], socket.socket(fileno=job), out, err, res, pidfd))
        elif fds:
            for fd in fds:
                os.close(fd)
        if msg.get("t") == "lost":
            for ready in list(self.ready):
                if ready.cid == msg["cid"]:
                    self.ready.remove(ready)
                    ready.close()
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
            start = time.monotonic()
            try:
                child.job.sendall(struct.pack("<Q", len(payload)) + payload)
                child.job.close()
            except OSError:
                # The child died before reading its job (infrastructure, not the job): use the next one.
                child.close()
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
        for fd in bufs:
            sel.register(fd, selectors.EVENT_READ)
        sel.register(self.ctl, selectors.EVENT_READ)
        open_pipes = 3
        done: dict[str, Any] | None = None
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
            kill_deadline = time.monotonic() + _KILL_GRACE

        try:
            while open_pipes or done is None:
                now = time.monotonic()
                if kill_deadline:
                    left = kill_deadline - now
                    if left <= 0:
                        raise self._died("or hung: a killed job was not reported")
                else:
                    left = deadline - now
                    if left <= 0:
                        kill("timeout", f"wall-clock limit of {limits.wall_seconds:g}s exceeded")
                        continue
                for key, _ in sel.select(timeout=left):
                    if key.fileobj is self.ctl:
                        try:
                            msg = self._recv()
                        except (_ServerDied, OSError):
                            server_dead = True
                            sel.unregister(self.ctl)
                            kill("error", "the sandbox server died")
                            continue
                        if msg.get("t") == "done" and msg.get("cid") == child.cid:
                            done = msg
                        elif msg.get("t") == "fatal":
                            server_dead = True
                        continue
                    fd = int(key.fd)
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
                if server_dead and open_pipes == 0:
                    break
        finally:
            sel.close()
            for fd in (child.out, child.err, child.res, child.pidfd):
                with contextlib.suppress(OSError):
                    os.close(fd)
        if server_dead or done is None:
            raise self._died("during the job; its processes were killed")
        wall = time.monotonic() - start
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
        cpu = float(done["utime"]) + float(done["stime"])
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
    ) -> SandboxResult:
        return SandboxResult(
            termination=termination, exit_code=code, stdout=stdout, stderr=stderr, result=result,
            wall_seconds=wall, cpu_seconds=cpu, peak_memory_mb=peak, backend=self.box.name, reason=reason,
            isolation=self.box.isolation,
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
        self.mode = mode
        self.name = "zygote" if mode == "fork" else "exec"
        self.preload = preload if mode == "fork" else ()
        self.proc = proc
        self.ready_children = 1 if mode == "fork" else 2
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
