"""One slot of the zygote sandbox, from the host: its fork server, its prepared children, the job it runs.

:class:`Slot` starts the server (empty environment, the slot's cgroup; through one long-lived thread, see
:class:`_Spawner`), takes a prepared child, pins it to the calling thread's CPU and sends it the job, then supervises
it from outside: wall clock, output and result caps, SIGKILL of the init of the child's pid namespace, so nothing
the job started survives. The children are this process's own (the server clones them with CLONE_PARENT):
their exit status and CPU time come straight from ``wait4`` the moment a job ends, peak memory and OOM kills from
the slot's cgroup, and how far the set-up got from the records on the child's report pipe.
"""

from __future__ import annotations

import collections
import contextlib
import json
import marshal
import os
import select
import selectors
import signal
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import godel.sandbox._cgroup as _cgroup
import godel.sandbox._linux as _linux
from godel.errors import SandboxError
from godel.sandbox._base import Job, Limits, SandboxResult, Termination
from godel.sandbox._zygote_child import decode_records
from godel.sandbox._zygote_procs import Ready, pin_to_this_cpu, read_all, read_int, reap, spawner
from godel.sandbox._zygote_result import finish, result

__all__ = ["Slot", "SlotSettings"]

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
load("godel.sandbox._zygote_child", cfg["child_path"])
load("godel.sandbox._zygote_server", cfg["server_path"]).server_main(cfg)
"""
_START_TIMEOUT = 60.0
_KILL_GRACE = 10.0


@dataclass(frozen=True)
class SlotSettings:
    """What every slot of one :class:`~godel.sandbox.ZygoteSandbox` shares (see its constructor)."""

    name: str  # the backend's name: "zygote" (fork mode) or "exec"
    mode: str  # "fork" or "exec"
    preload: tuple[str, ...]  # modules a fork-mode server imports once for all its children
    proc: bool  # mount the job's own /proc
    ready_children: int  # prepared children each server keeps waiting
    cgroups: _cgroup.CgroupSupport
    landlock_abi: int  # 0: no Landlock
    seccomp: bool
    binds: list[str]  # bound read-only into the private root
    sys_path: list[str]  # the jobs' sys.path (below the bound directories)
    root_mountpoint: str
    isolation: Mapping[str, Any]  # what protects a run, as each result reports it


class _ServerDied(Exception):
    pass


def _init_children(pid: int) -> list[bytes]:
    """The children of a job's init: what the job left running (reparented to it when the job's process ended)."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children", "rb") as fh:
            return fh.read().split()
    except ProcessLookupError:
        # It ended between the caller's look and this read (ESRCH): so has everything in its namespace.
        return []
    except FileNotFoundError:
        # Ended (so has everything in its namespace), or a kernel without the file: then assume the worst.
        return [b"unknown"] if os.path.exists(f"/proc/{pid}") else []


class Slot:
    """One fork server (started on demand, restarted after it dies), its prepared children and the job it runs."""

    def __init__(self, settings: SlotSettings, index: int, uid: int) -> None:
        self.settings = settings
        self.index = index
        self.uid = uid  # the slot's jobs run as this uid and gid, which no other live slot has
        self.proc: subprocess.Popen[bytes] | None = None
        self.ctl: socket.socket | None = None
        self.cgroup: _cgroup.SlotCgroup | None = None
        self.cg_fds: dict[str, int] = {}
        self.oom_base = 0
        self.ready: collections.deque[Ready] = collections.deque()
        self.server_pid = 0
        self.server_pidfd = -1  # the server's end, which the control socket alone cannot tell (see prefork)

    # life cycle

    def start(self) -> None:
        box = self.settings
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
            "linux_path": str(_HERE / "_linux.py"), "child_path": str(_HERE / "_zygote_child.py"),
            "server_path": str(_HERE / "_zygote_server.py"),
        }  # fmt: skip
        try:
            # An empty environment: no API keys or other secrets reach the server or, through fork, the jobs.
            self.proc = spawner.call(
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
        self.server_pidfd = os.pidfd_open(self.proc.pid)

    def stop(self) -> None:
        for ready in self.ready:
            ready.discard()
        self.ready.clear()
        if self.ctl is not None:
            self.ctl.close()
            self.ctl = None
        if self.server_pidfd >= 0:
            os.close(self.server_pidfd)
            self.server_pidfd = -1
        if self.proc is not None:
            deadline = time.monotonic() + 5
            while True:
                try:
                    self.proc.wait(timeout=0.02)
                    break
                except subprocess.TimeoutExpired:
                    pass
                # The server's last act is reaping its children's inits; an init ends only once every process of
                # its namespace is reaped, and a child it cloned but had not yet announced is ours to reap.
                self._reap_strays()
                if time.monotonic() > deadline:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(self.proc.pid, signal.SIGKILL)
                    self.proc.wait()
                    break
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
                reap(int(entry))

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
        if msg.get("t") == "ready" and len(fds) == 7:
            job, out, err, res, report, pidfd, init_pidfd = fds
            self.ready.append(
                Ready(
                    msg["cid"], msg["pid"], socket.socket(fileno=job), out, err, res, report, pidfd,
                    int(msg["init"]), init_pidfd,
                )
            )  # fmt: skip
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

    def _take_ready(self) -> Ready:
        deadline = time.monotonic() + _START_TIMEOUT
        assert self.ctl is not None
        while not self.ready:
            left = deadline - time.monotonic()
            if left <= 0:
                raise self._died("without offering a sandboxed child in time")
            ready, _, _ = select.select([self.ctl.fileno(), self.server_pidfd], [], [], left)
            if self.server_pidfd in ready:
                raise self._died("while preparing a child")
            if not ready:
                continue
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
            why = f"the job's files ({total} bytes) exceed the disk limit of {limits.disk_mb} MB"
            return result(
                "error", None, backend=self.settings.name, isolation=self.settings.isolation, reason=why
            )
        lim = {
            "wall_seconds": limits.wall_seconds, "cpu_seconds": limits.cpu, "memory_mb": limits.memory_mb,
            "max_processes": limits.max_processes, "disk_mb": limits.disk_mb,
        }  # fmt: skip
        payload = marshal.dumps((job.code, files, list(job.argv), lim))
        for attempt in range(3):
            child = self._take_ready()
            pin_to_this_cpu(child.pid)
            pin_to_this_cpu(child.init)  # it ends after the job, waking us: a local wake-up
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

    def _supervise(self, child: Ready, job: Job, start: float) -> SandboxResult:
        limits = job.limits
        assert self.ctl is not None
        sel = selectors.DefaultSelector()
        bufs = {child.out: bytearray(), child.err: bytearray(), child.res: bytearray()}
        # The report pipe is read once the child has ended: a wake-up per set-up record would preempt the job on
        # this CPU (the records are tiny and wait in the pipe).
        for fd in bufs:
            sel.register(fd, selectors.EVENT_READ)
        sel.register(self.ctl, selectors.EVENT_READ)
        sel.register(self.server_pidfd, selectors.EVENT_READ)
        sel.register(child.pidfd, selectors.EVENT_READ)
        open_pipes = len(bufs)
        exited: tuple[int, Any] | None = None
        termination: Termination | None = None
        reason = ""
        deadline = start + limits.wall_seconds
        kill_deadline = 0.0
        server_dead = False

        # The namespace's init ends after the job: the host kills it once the job's process has ended, and a
        # result is given only once it has gone, with everything the job left running.
        init_alive = True
        sel.register(child.init_pidfd, selectors.EVENT_READ)

        def kill(term: Termination, why: str) -> None:
            nonlocal termination, reason, kill_deadline
            if termination is None:
                termination, reason = term, why
            child.end()
            if not kill_deadline:
                kill_deadline = time.monotonic() + _KILL_GRACE

        try:
            while open_pipes or exited is None or init_alive:
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
                    if fd == self.server_pidfd:
                        server_dead = True
                        sel.unregister(fd)
                        kill("error", "the sandbox server died")
                        continue
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
                    if fd == child.init_pidfd:
                        sel.unregister(fd)
                        init_alive = False
                        continue
                    if fd == child.pidfd:
                        # The job's process ended; what it left running ends with its namespace's init (below).
                        sel.unregister(fd)
                        exited = reap(child.pid)
                        if exited is None:
                            raise SandboxError(
                                f"the sandboxed child {child.pid} was reaped by someone else",
                                hint="something in this process waits for any child (waitpid(-1) in a SIGCHLD "
                                "handler?): the sandbox's jobs are children of this process",
                            )
                        # Its orphans were made the init's children before it could be reaped: with none,
                        # nothing of the job's is left, and the init ends on its own time (the server, its
                        # parent, reaps it). Else what the job left running ends with the init.
                        left_running = init_alive and _init_children(child.init)
                        child.end()
                        if init_alive and not left_running:
                            sel.unregister(child.init_pidfd)
                            init_alive = False
                        if (open_pipes or init_alive) and not kill_deadline:
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
            child.end()
            if exited is None:
                with contextlib.suppress(OSError):
                    signal.pidfd_send_signal(child.pidfd, signal.SIGKILL)
                reap(child.pid)
            report = read_all(child.report)
            for fd in (child.out, child.err, child.res, child.pidfd, child.init_pidfd):
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
        peak = read_int(self.cg_fds["mem_peak"]) if "mem_peak" in self.cg_fds else None
        oom = self._oom_count()
        oom_kills, self.oom_base = oom - self.oom_base, oom
        mem_base = int(taken.get("mem_base", 0)) if taken else 0
        # The child booted, prepared and confined itself before the job's code ran: that CPU time is the sandbox's.
        cpu_before = float(went.get("cpu_before", 0.0)) if went else 0.0
        # CLOCK_MONOTONIC is one clock for every process here (no time namespace), so the child's stamp compares.
        start_seconds = max(0.0, float(went["at"]) - start) if went and "at" in went else None
        done = {
            "exit": code, "cpu": max(0.0, usage.ru_utime + usage.ru_stime - cpu_before),
            "cpu_total": usage.ru_utime + usage.ru_stime, "maxrss_kb": usage.ru_maxrss,
            "peak_bytes": max(0, peak - mem_base) if peak is not None else None, "oom_kills": oom_kills,
            "start_seconds": start_seconds,
            "setup_error": None if went else error or {
                "kind": "infra", "message": f"the sandboxed child died during set-up (exit status {code})"},
        }  # fmt: skip
        return finish(
            job, done, bufs[child.out], bufs[child.err], bufs[child.res], wall, termination, reason,
            backend=self.settings.name, isolation=self.settings.isolation,
        )  # fmt: skip
