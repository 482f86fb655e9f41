"""The zygote's fork server. Standard library only.

Runs in a process started by :mod:`godel.sandbox._zygote` with an empty environment and loaded by file path (the
``godel`` package is never imported here; this module, :mod:`godel.sandbox._zygote_child` and
:mod:`godel.sandbox._linux` are all it loads). The server:

1. leaves the host: a private mount namespace whose root is a fresh read-only tmpfs holding only ``/usr``, the
   Python prefix and site-packages (bound read-only), a few device nodes and a synthetic ``/etc``; and an empty
   network namespace shared by all its children. In fork mode it then readies the interpreter for jobs once (the
   job's environment, ``sys.path``, a fresh ``__main__``, an empty capability bounding set), so no child repeats it;
2. keeps ``ready`` children prepared, under SCHED_IDLE so this never takes the CPU from a running job. Each child
   is cloned into new mount/ipc/uts namespaces and a new pid namespace whose PID 1 is an init spawned just before
   (it only waits to be killed: killing it kills everything the job starts, and the job, PID 2, dies of its own
   signals as it would elsewhere, which a PID 1 does not), with CLONE_PARENT, which makes the host its parent and lets the host reap it without a hop through us. It gets
   its own job socket, stdout/stderr/result pipes and a report pipe, whose host ends go straight to the host with
   ``SCM_RIGHTS``: jobs and output never pass through the server, whose memory, which every fork-mode child
   inherits, holds no candidate code, data or output;
3. refills the pool as children take jobs, tells the host about children lost before a job, and kills a job past
   its wall-clock limit should the host be stuck.

What a child does once cloned is :mod:`godel.sandbox._zygote_child`. In exec mode the child first ``exec``s a fresh
``python -I -S`` (before the job arrives, so the start-up is off the critical path) that loads only that module and
``_linux`` from a sealed memfd, sharing no memory with the server or other candidates.
"""

from __future__ import annotations

import gc
import marshal
import os
import sys
import time

import godel.sandbox._linux as _linux
from godel.sandbox._zygote_child import (
    BOX,
    DEVICES,
    FIRST_CG_FD,
    STASH,
    WORK,
    bind,
    child_main,
    decode_records,
    ready_job_interpreter,
    record,
    suppress,
    tmp_binds,
)

TYPE_CHECKING = False  # typing, json, socket... cost milliseconds before the server is up
if TYPE_CHECKING:
    from typing import Any

__all__ = ["EXEC_BOOT", "server_main"]

# CLONE_PARENT: the host, not the server, is each child's parent, so the host reaps the job the moment it ends and
# learns its exit status and resource usage from the kernel, with no hop through the server (which may be busy
# cloning the next child just then). The pid namespace is made by unshare before the child's init is spawned (see
# _spawn_init).
_CLONE_FLAGS = _linux.CLONE_NEWNS | _linux.CLONE_NEWIPC | _linux.CLONE_NEWUTS | _linux.CLONE_PARENT
_FATAL_AFTER = 3  # consecutive children dying before taking a job


class _Child:
    """What the server knows of a child it cloned: its pidfd, status pipe and how far its set-up got."""

    __slots__ = (
        "cid", "error", "go", "init_pid", "init_pidfd", "init_stack", "pid", "pidfd", "started", "status_fd",
        "taken", "wall",
    )  # fmt: skip

    def __init__(
        self, cid: int, pid: int, pidfd: int, status_fd: int, init_pid: int, init_pidfd: int
    ) -> None:
        self.cid, self.pid, self.pidfd, self.status_fd = cid, pid, pidfd, status_fd
        self.init_pid, self.init_pidfd = init_pid, init_pidfd  # the pid namespace's PID 1
        self.init_stack: object = None  # the init's stack (see _linux.spawn_pause), kept until it is reaped
        self.taken = self.go = False
        self.error: dict[str, Any] | None = None
        self.wall = 0.0
        self.started = 0.0


def _build_root(root: str, cfg: dict[str, Any], etc: dict[str, bytes], links: dict[str, str]) -> None:
    _linux.mount("tmpfs", root, "tmpfs", _linux.MS_NOSUID | _linux.MS_NODEV, "size=4m,mode=0755")
    for name, target in links.items():
        os.symlink(target, f"{root}/{name}")
    for path in cfg["binds"]:
        inside = root + path
        os.makedirs(inside, exist_ok=True)
        bind(path, inside)
    # Binds below /tmp (a virtualenv in a checkout under /tmp, say) also go to a stash, from which every job
    # re-binds them onto its own fresh /tmp (see _prepare).
    for i, path in enumerate(tmp_binds(cfg)):
        stash = f"{root}{STASH}/{i}"
        os.makedirs(stash, exist_ok=True)
        bind(path, stash)
    os.makedirs(f"{root}/etc", exist_ok=True)
    for name, content in etc.items():
        with open(f"{root}/etc/{name}", "wb") as fh:
            fh.write(content)
    os.makedirs(f"{root}/dev", exist_ok=True)
    for dev in DEVICES:
        open(f"{root}/dev/{dev}", "wb").close()
        bind(f"/dev/{dev}", f"{root}/dev/{dev}", device=True)
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1"),
                         ("stderr", "/proc/self/fd/2"), ("shm", "/tmp")):  # fmt: skip
        os.symlink(target, f"{root}/dev/{name}")
    for d in ("proc", BOX.lstrip("/")):
        os.mkdir(f"{root}/{d}", 0o755)
    if not os.path.lexists(f"{root}/tmp"):
        os.symlink(BOX + "/tmp", f"{root}/tmp")
    _linux.mount(None, root, None, _linux.MS_REMOUNT | _linux.MS_RDONLY | _linux.MS_NOSUID | _linux.MS_NODEV)


class _Server:
    def __init__(self, cfg: dict[str, Any]) -> None:
        import select
        import socket

        self.cfg = cfg
        self.mode: str = cfg["mode"]
        self.ctl = socket.socket(fileno=int(cfg["ctl_fd"]))
        self.ready_target = int(cfg["ready"])
        self.children: dict[int, _Child] = {}  # by pidfd
        self.by_status: dict[int, _Child] = {}
        self.ready: list[_Child] = []
        self.running: _Child | None = None
        self.next_cid = 0
        self.failures = 0
        self.cg_fds: dict[str, int] = {name: int(fd) for name, fd in (cfg.get("cg_fds") or {}).items()}
        self.poll = select.poll()
        self.blob_fd = -1
        self.pidns_fd = -1  # the server's own pid namespace, to return to after making each child's
        self.tid_address = 0
        self.inits: dict[int, _Child] = {}  # by the init's pidfd
        self.devnull = -1
        self.child_cfg: dict[str, Any] = {}
        self.child_cg_fds: list[int] = []
        self.modules: list[tuple[str, bytes]] = []

    # setup

    def setup(self) -> None:
        import select

        cfg = self.cfg
        for name in ("mem_procs", "pids_procs"):
            if name in self.cg_fds:
                os.write(self.cg_fds[name], b"0")  # children are born in the slot's group
        with open("/proc/sys/kernel/cap_last_cap") as fh:
            last_cap = int(fh.read())
        etc = {
            "passwd": f"root:x:0:0::/:/usr/sbin/nologin\nsandbox:x:{cfg['uid']}:{cfg['gid']}::{WORK}:/usr/sbin/nologin\n"
            "nobody:x:65534:65534::/nonexistent:/usr/sbin/nologin\n".encode(),
            "group": f"root:x:0:\nsandbox:x:{cfg['gid']}:\nnogroup:x:65534:\n".encode(),
            "hosts": b"127.0.0.1 localhost\n::1 localhost\n",
            "hostname": b"sandbox\n",
            "nsswitch.conf": b"passwd: files\ngroup: files\nhosts: files\n",
        }
        with suppress(OSError), open("/etc/ld.so.cache", "rb") as fh:
            etc["ld.so.cache"] = fh.read()
        links = {name: os.readlink(f"/{name}") for name in ("bin", "lib", "lib32", "lib64", "libx32", "sbin")
                 if os.path.islink(f"/{name}")}  # fmt: skip
        localtime = os.readlink("/etc/localtime") if os.path.islink("/etc/localtime") else None
        for name in cfg["preload"]:
            with suppress(Exception):
                __import__(name)
        # Two stacked filters: everything but mount/umount2 goes on while the child waits (building a filter is
        # the dearest step of a lock-down); mount/umount2 alone at the job's start, once the scratch has its size.
        seccomp_early = seccomp_late = None
        if cfg["seccomp"]:
            late = ("mount", "umount2")
            seccomp_early = _linux.seccomp_filter(tuple(n for n in _linux.DENIED_SYSCALLS if n not in late))
            seccomp_late = _linux.seccomp_filter(late, arguments=False)
        if self.mode == "exec":
            self._read_modules()
        self.tid_address = _linux.thread_id_address()
        self.pidns_fd = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
        # Leave the host: private mounts, no network, own ipc/uts; then a root holding only what Python needs.
        _linux.unshare(_linux.CLONE_NEWNS | _linux.CLONE_NEWNET | _linux.CLONE_NEWIPC | _linux.CLONE_NEWUTS)
        _linux.mount(None, "/", None, _linux.MS_REC | _linux.MS_PRIVATE)
        root = cfg["root_mountpoint"]
        _build_root(root, cfg, etc, links)
        if localtime:
            with suppress(OSError):
                _linux.mount(None, root, None, _linux.MS_REMOUNT | _linux.MS_NOSUID | _linux.MS_NODEV)
                os.symlink(localtime, f"{root}/etc/localtime")
                _linux.mount(
                    None,
                    root,
                    None,
                    _linux.MS_REMOUNT | _linux.MS_RDONLY | _linux.MS_NOSUID | _linux.MS_NODEV,
                )
        os.chdir(root)
        _linux.pivot_root(".", ".")
        _linux.umount2(".", _linux.MNT_DETACH)
        os.chdir("/")
        self.devnull = os.open("/dev/null", os.O_RDWR)
        child_cg = [n for n in self.cg_fds if not n.endswith("procs") and n != "mem_events"]
        cg_targets = {name: FIRST_CG_FD + i for i, name in enumerate(child_cg)}
        self.child_cg_fds = [self.cg_fds[n] for n in child_cg]
        self.child_cfg = {
            "uid": cfg["uid"], "gid": cfg["gid"], "last_cap": last_cap, "landlock_abi": cfg["landlock_abi"],
            "seccomp_early": seccomp_early, "seccomp_late": seccomp_late, "sys_path": cfg["sys_path"],
            "python": cfg["python"], "cg": cg_targets,
            "proc": cfg["proc"], "ready": self.ready_target, "tmp_binds": tmp_binds(cfg),
            "disk_mb": int(cfg["disk_mb"]), "cpus": cfg["cpus"],
        }  # fmt: skip
        if self.mode == "exec":
            self._make_blob()
        else:
            # Everything every child would otherwise redo (see _zygote_child._job_interpreter). The bounding set
            # only limits what an execve could gain, and this server never execs.
            for name in ("fcntl", "json", "select", "signal", "socket", "traceback"):
                __import__(name)  # imported lazily below; sys.path is the job's from here on
            _linux.drop_bounding_set(last_cap)
            ready_job_interpreter(self.child_cfg)
        gc.collect()
        gc.freeze()
        self.poll.register(self.ctl.fileno(), select.POLLIN)

    def _read_modules(self) -> None:
        for name in (
            "godel.sandbox._linux",
            "godel.sandbox._zygote_child",
        ):  # in this order: the child imports _linux
            path = sys.modules[name].__file__
            assert path is not None
            with open(path, encoding="utf-8") as fh:
                self.modules.append((name, marshal.dumps(compile(fh.read(), path, "exec"))))

    def _make_blob(self) -> None:
        mods = self.modules
        blob = marshal.dumps((mods, self.child_cfg))
        fd = os.memfd_create("godel-child", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
        os.write(fd, blob)
        import fcntl

        fcntl.fcntl(
            fd,
            fcntl.F_ADD_SEALS,
            fcntl.F_SEAL_SEAL | fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_WRITE,
        )
        self.blob_fd = fd

    # children

    def _send(self, msg: dict[str, Any], fds: list[int] | None = None) -> None:
        import json
        import socket

        data = json.dumps(msg).encode()
        if fds:
            socket.send_fds(self.ctl, [data], fds)
        else:
            self.ctl.send(data)

    def prefork(self) -> None:
        import select
        import socket

        # The init first, into a namespace of its own; the child then joins it.
        try:
            init_pid, init_pidfd, init_stack = self._spawn_init()
        except BaseException:
            _linux.setns(self.pidns_fd, _linux.CLONE_NEWPID)
            raise
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        res_r, res_w = os.pipe()
        st_r, st_w = os.pipe()
        rep_r, rep_w = os.pipe()
        job_host, job_child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        # The child's descriptors 0, 1, 2, ...: the layout _zygote_child expects (its _JOB_FD, FIRST_CG_FD...).
        fds = [self.devnull, out_w, err_w, res_w, job_child.fileno(), st_w, rep_w, *self.child_cg_fds]
        if self.mode == "exec":
            fds.append(self.blob_fd)
        try:
            pid = _linux.clone_fork(_CLONE_FLAGS, self.tid_address)
            if pid == 0:
                self._child_boot(fds)
        except BaseException:
            self._end_init(init_pid, init_pidfd)
            for fd in (out_r, out_w, err_r, err_w, res_r, res_w, st_r, st_w, rep_r, rep_w):
                os.close(fd)
            job_host.close()
            job_child.close()
            raise
        finally:
            # Back to our own namespace for children: the next init must get a namespace of its own.
            _linux.setns(self.pidns_fd, _linux.CLONE_NEWPID)
        for fd in (out_w, err_w, res_w, st_w, rep_w):
            os.close(fd)
        job_child.close()
        pidfd = os.pidfd_open(pid)
        cid = self.next_cid
        self.next_cid += 1
        child = _Child(cid, pid, pidfd, st_r, init_pid, init_pidfd)
        child.init_stack = init_stack
        self.children[pidfd] = child
        self.by_status[st_r] = child
        self.ready.append(child)
        self.poll.register(pidfd, select.POLLIN)
        self.poll.register(st_r, select.POLLIN)
        self.inits[init_pidfd] = child
        self.poll.register(init_pidfd, select.POLLIN)
        host_fds = [os.dup(pidfd), os.dup(init_pidfd)]
        try:
            self._send(
                {"t": "ready", "cid": cid, "pid": pid, "init": init_pid},
                [job_host.fileno(), out_r, err_r, res_r, rep_r, *host_fds],
            )
        finally:
            job_host.close()
            for fd in (out_r, err_r, res_r, rep_r, *host_fds):
                os.close(fd)

    def _spawn_init(self) -> tuple[int, int, object]:
        """A new pid namespace for the next child, and its PID 1: the job must not be PID 1.

        The kernel drops every signal a namespace's PID 1 sends itself for which it has no handler, SIGKILL
        included, so a job that was PID 1 survived ``os.kill(os.getpid(), SIGKILL)``, ``signal.raise_signal`` and
        ``abort()``. The init only waits to be killed (:func:`_linux.spawn_pause`: no page table copied, nothing
        to tear down at the job's end, where the host kills it); the job's processes are invisible to it and it to
        them, and orphans they leave wait for the job's end as they did when the job was PID 1. It shares our
        descriptor table, so it keeps our descriptors open should we die (the control socket among them: the host
        watches our pidfd, not only the socket, to learn that we died). Returns its pid, pidfd and stack.
        """
        _linux.unshare(_linux.CLONE_NEWPID)
        pid, stack = _linux.spawn_pause()
        try:
            return pid, os.pidfd_open(pid), stack
        except OSError:
            self._end_init(pid, -1)
            raise

    def _end_init(self, pid: int, pidfd: int) -> None:
        """Kill (if still alive) and reap an init we spawned."""
        import signal

        with suppress(OSError):
            if pidfd >= 0:
                signal.pidfd_send_signal(pidfd, signal.SIGKILL)
            else:
                os.kill(pid, signal.SIGKILL)
        with suppress(ChildProcessError):
            os.waitpid(pid, 0)
        if pidfd >= 0:
            os.close(pidfd)

    def _child_boot(self, fds: list[int]) -> None:
        """In the freshly cloned child (PID 2 of its pid namespace, whose PID 1 is its init): arrange descriptors,
        then wait for a job."""
        import signal
        import socket

        try:
            # The parent is the host (CLONE_PARENT): the job dies with the engine.
            _linux.set_pdeathsig(signal.SIGKILL)
            high = [os.dup(fd) for fd in fds]
            base = max(*high, 64) + 1
            moved = [fcntl_dupfd(fd, base) for fd in high]
            for i, fd in enumerate(moved):
                os.dup2(fd, i)
            os.closerange(len(fds), 1 << 20)
            self.ctl.detach()  # its descriptor is closed; keep the object from closing a reused number
            # Always mounted (the child resets its OOM score through it); unmounted again unless cfg["proc"].
            try:
                _linux.mount("proc", "/proc", "proc", _linux.MS_NOSUID | _linux.MS_NODEV | _linux.MS_NOEXEC,
                             "subset=pid,hidepid=invisible")  # fmt: skip
            except OSError:
                _linux.mount("proc", "/proc", "proc", _linux.MS_NOSUID | _linux.MS_NODEV | _linux.MS_NOEXEC)
            with suppress(OSError):
                socket.sethostname("sandbox")
            if self.mode == "exec":
                blob_fd = len(fds) - 1
                size = os.fstat(blob_fd).st_size
                python = self.cfg["python"]
                os.execve(
                    python,
                    [python, "-I", "-S", "-c", EXEC_BOOT, str(blob_fd), str(size)],
                    {"LANG": "C.UTF-8"},
                )
            child_main(self.child_cfg)
        except BaseException as exc:
            with suppress(BaseException):
                record("error", kind="infra", message=f"child start: {type(exc).__name__}: {exc}")
        os._exit(126)

    def _on_status(self, fd: int) -> None:
        child = self.by_status[fd]
        try:
            data = os.read(fd, 65536)
        except OSError:
            data = b""
        if not data:
            self.poll.unregister(fd)
            os.close(fd)
            del self.by_status[fd]
            child.status_fd = -1
            return
        for rec in decode_records(data):
            if rec.get("t") == "taken":
                child.taken = True
                child.wall = float(rec.get("wall", 0.0))
                child.started = time.monotonic()
                # Children prepared from now on mount their scratch at this job's size: jobs of one run agree.
                self.child_cfg["disk_mb"] = int(rec.get("disk_mb", self.child_cfg["disk_mb"]))
                if child in self.ready:
                    self.ready.remove(child)
                self.running = child
                self.failures = 0
            elif rec.get("t") == "go":
                child.go = True
            elif rec.get("t") == "error":
                child.error = rec

    def _on_init_exit(self, pidfd: int) -> None:
        """A child's init ended (the host or we killed it): reap it, ours to reap."""
        child = self.inits.pop(pidfd)
        self.poll.unregister(pidfd)
        self._end_init(child.init_pid, pidfd)
        child.init_pidfd, child.init_stack = -1, None

    def _on_exit(self, pidfd: int) -> None:
        """A child ended. The host, its parent, reaps it and reports the job; we only refill and count losses (and
        end its init, which the host also does the moment it has reaped the job)."""
        child = self.children.pop(pidfd)
        self.poll.unregister(pidfd)
        if child.init_pidfd >= 0:
            import signal

            with suppress(OSError):
                signal.pidfd_send_signal(child.init_pidfd, signal.SIGKILL)
        if child.status_fd >= 0:
            # Collect the child's last words before reporting it.
            with suppress(OSError):
                while child.status_fd >= 0:
                    self._on_status(child.status_fd)
        os.close(pidfd)
        if child in self.ready:
            self.ready.remove(child)
        if self.running is child:
            self.running = None
        if not child.taken:
            self.failures += 1
            self._send({"t": "lost", "cid": child.cid, "error": child.error})
            if self.failures >= _FATAL_AFTER:
                msg = (child.error or {}).get("message", "it ended before taking a job")
                self._send({"t": "fatal", "message": f"sandbox children keep dying before a job: {msg}"})
                raise SystemExit(3)

    def loop(self) -> None:
        import signal

        self._send({"t": "hello", "pid": os.getpid()})
        with suppress(OSError):
            # From here on the server only refills the ready pool (and keeps a backstop timer): under SCHED_IDLE
            # its clones never preempt a running job, which they otherwise did for ~0.7 ms right after its start.
            os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
        while True:
            timeout_ms: int | None = None
            # Refill once the running job is past its own set-up (mounts contend with our clone for locks).
            while len(self.ready) < self.ready_target and (self.running is None or self.running.go):
                try:
                    self.prefork()
                except OSError:
                    # EAGAIN while a job holds every pid of the slot's group: try again shortly.
                    timeout_ms = 50
                    break
            run = self.running
            if run is not None and run.taken:
                # Backstop only: the host kills at the wall limit; this fires if the host is stuck.
                left = run.started + run.wall + 5.0 - time.monotonic()
                if left <= 0:
                    with suppress(OSError):
                        signal.pidfd_send_signal(run.pidfd, signal.SIGKILL)
                    left = 1.0
                timeout_ms = min(timeout_ms or 1 << 30, int(left * 1000) + 1)
            for fd, _ev in self.poll.poll(timeout_ms):
                if fd == self.ctl.fileno():
                    try:
                        data = self.ctl.recv(4096)
                    except OSError:
                        data = b""
                    if not data:
                        self.shutdown()
                        return
                elif fd in self.by_status:
                    self._on_status(fd)
                elif fd in self.children:
                    self._on_exit(fd)
                elif fd in self.inits:
                    self._on_init_exit(fd)

    def shutdown(self) -> None:
        import signal

        for pidfd in [*self.children, *self.inits]:
            with suppress(OSError):
                signal.pidfd_send_signal(pidfd, signal.SIGKILL)
        for init_fd, child in list(self.inits.items()):
            self._end_init(child.init_pid, init_fd)


def fcntl_dupfd(fd: int, base: int) -> int:
    import fcntl

    new = fcntl.fcntl(fd, fcntl.F_DUPFD, base)
    os.close(fd)
    return new


# Run by the fresh interpreter of exec mode: load _linux and _zygote_child from the server's sealed memfd.
EXEC_BOOT = """
import marshal, os, sys, types
fd, size = int(sys.argv[1]), int(sys.argv[2])
mods, cfg = marshal.loads(os.pread(fd, size, 0))
for name in ("godel", "godel.sandbox"):
    pkg = types.ModuleType(name); pkg.__path__ = []; sys.modules[name] = pkg
for name, code in mods:
    mod = types.ModuleType(name); sys.modules[name] = mod; exec(marshal.loads(code), mod.__dict__)
del mods
sys.modules["godel.sandbox._zygote_child"].child_main(cfg)
"""


def server_main(cfg: dict[str, Any]) -> None:
    # Named for the slot before any clone, so every child is born with the name the host sweeps strays by.
    _linux.set_name(_linux.process_name(int(cfg["uid"])))
    server = _Server(cfg)
    try:
        server.setup()
    except BaseException as exc:
        with suppress(OSError):
            import traceback

            where = traceback.extract_tb(exc.__traceback__)[-1]
            server._send(
                {"t": "fatal", "message": f"sandbox server set-up failed: {type(exc).__name__}: {exc} "
                 f"(at {os.path.basename(where.filename)}:{where.lineno} {where.line})"}
            )  # fmt: skip
        raise
    server.loop()
