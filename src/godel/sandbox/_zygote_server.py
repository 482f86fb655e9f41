"""The zygote's fork-server and the code of each sandboxed child. Standard library only.

Runs in a process started by :mod:`godel.sandbox._zygote` with an empty environment and loaded by file path (the
``godel`` package is never imported here). The server:

1. leaves the host: a private mount namespace whose root is a fresh read-only tmpfs holding only ``/usr``, the
   Python prefix and site-packages (bound read-only), a few device nodes and a synthetic ``/etc``; and an empty
   network namespace shared by all its children. In fork mode it then readies the interpreter for jobs once (the
   job's environment, ``sys.path``, a fresh ``__main__``, an empty capability bounding set), so no child repeats it;
2. keeps ``ready`` children prepared, under SCHED_IDLE so this never takes the CPU from a running job. Each child
   is cloned into new pid/mount/ipc/uts namespaces (it is PID 1 there, so killing it kills everything it starts)
   with CLONE_PARENT, which makes the host its parent and lets the host reap it without a hop through us. It gets
   its own job socket, stdout/stderr/result pipes and a report pipe, whose host ends go straight to the host with
   ``SCM_RIGHTS``: jobs and output never pass through the server, whose memory, which every fork-mode child
   inherits, holds no candidate code, data or output;
3. refills the pool as children take jobs, tells the host about children lost before a job, and kills a job past
   its wall-clock limit should the host be stuck.

A child prepares itself before its job arrives (see :func:`_prepare`): it mounts its scratch tmpfs, builds its
Landlock ruleset and installs the seccomp filter. When the job comes it sets the slot cgroup's limits, remounts the
scratch if the job wants another size, drops to the slot's uid with no capabilities, writes the job's files, sets
rlimits (soft = hard), no_new_privs, Landlock and a last seccomp filter for mount/umount2, closes every descriptor
but 0-3 and runs the code as ``__main__``. In exec mode the child first ``exec``s a fresh ``python -I -S`` (before
the job arrives, so the start-up is off the critical path) and does the same from there, sharing no memory with the
server or other candidates.
"""

from __future__ import annotations

import gc
import marshal
import os
import struct
import sys
import time

import godel.sandbox._linux as _linux

TYPE_CHECKING = False  # typing, json, socket... cost milliseconds in the fresh interpreters of exec mode
if TYPE_CHECKING:
    from types import TracebackType
    from typing import Any

__all__ = ["BOX", "WORK", "child_main", "decode_records", "server_main"]

BOX = "/box"  # the job's tmpfs: WORK is its working directory, /tmp points to BOX/tmp
WORK = BOX + "/work"
_JOB_FD = 4
_STATUS_FD = 5  # set-up records to the server (it refills the ready pool and keeps a backstop timer)
_REPORT_FD = 6  # the same records to the host (it reaps the job and needs to know how far set-up got)
_FIRST_CG_FD = 7
# CLONE_PARENT: the host, not the server, is each child's parent, so the host reaps the job the moment it ends and
# learns its exit status and resource usage from the kernel, with no hop through the server (which may be busy
# cloning the next child just then).
_CLONE_FLAGS = (
    _linux.CLONE_NEWPID | _linux.CLONE_NEWNS | _linux.CLONE_NEWIPC | _linux.CLONE_NEWUTS | _linux.CLONE_PARENT
)
_DEVICES = ("null", "zero", "full", "random", "urandom")
_FATAL_AFTER = 3  # consecutive children dying before taking a job


class _suppress:
    """contextlib.suppress without importing contextlib."""

    def __init__(self, *exc: type[BaseException]) -> None:
        self.exc = exc

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> bool:
        return et is not None and issubclass(et, self.exc)


# --- messages ---------------------------------------------------------------------------------------------------


def _status(record: str, **data: Any) -> None:
    """Child -> server and host record on the status and report pipes (small, so one atomic write each)."""
    data["t"] = record
    payload = marshal.dumps(data)[:4000]
    frame = struct.pack("<H", len(payload)) + payload
    for fd in (_REPORT_FD, _STATUS_FD):
        with _suppress(OSError):
            os.write(fd, frame)


def decode_records(data: bytes) -> list[dict[str, Any]]:
    """The records :func:`_status` framed into ``data``; a frame that does not decode reads as ``{"t": "garbled"}``."""
    out: list[dict[str, Any]] = []
    while len(data) >= 2:
        (n,) = struct.unpack("<H", data[:2])
        try:
            rec = marshal.loads(data[2 : 2 + n])
        except (ValueError, EOFError, TypeError):
            rec = None
        out.append(rec if isinstance(rec, dict) else {"t": "garbled"})
        data = data[2 + n :]
    return out


def _read_exact(fd: int, n: int) -> bytes:
    parts: list[bytes] = []
    while n:
        chunk = os.read(fd, min(n, 1 << 20))
        if not chunk:
            raise EOFError
        parts.append(chunk)
        n -= len(chunk)
    return b"".join(parts)


# --- the child ---------------------------------------------------------------------------------------------------


def _cg_int(fd: int) -> int:
    text = os.pread(fd, 64, 0).decode().strip()
    return int(text) if text.isdigit() else 0


def _apply_cgroup(cfg: dict[str, Any], prep: _Prepared, limits: dict[str, Any]) -> int:
    """Set the slot group's limits for this job; returns the memory already charged (server + idle child).

    The server lives in the group, so its children are born there: moving a process between cgroup v1 groups
    costs 3-14 ms of RCU synchronisation, far more than everything else a job start does.
    """
    cg: dict[str, int] = cfg["cg"]
    base = 0
    if "mem_limit" in cg:
        base = _cg_int(cg["mem_usage"]) if "mem_usage" in cg else 0
        os.write(cg["mem_limit"], str(base + int(limits["memory_mb"]) * 1024 * 1024).encode())
        if "mem_peak" in cg:
            os.write(cg["mem_peak"], b"0")
    if "pids_max" in cg:
        current = _cg_int(cg["pids_current"]) if "pids_current" in cg else 2
        # The job may use max_processes (this process included); the server may keep its ready children.
        allowed = current - 1 + int(limits["max_processes"]) + int(cfg["ready"])
        os.write(cg["pids_max"], str(allowed).encode())
    # The server and the idle child share the group: the OOM killer must always pick the job first (raising the
    # score needs no privilege, and the job cannot lower it again). Only now: an idle child must not be the victim
    # of the running job's memory.
    os.write(prep.oom_fd, b"1000")
    return base


def _set_rlimits(cfg: dict[str, Any], limits: dict[str, Any]) -> None:
    import resource

    cpu = max(1, int(float(limits["cpu_seconds"]) + 0.999))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu))
    disk = int(limits["disk_mb"]) * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_FSIZE, (disk, disk))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_NOFILE, (1024, 1024))
    nproc = int(limits["max_processes"])
    resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))
    resource.setrlimit(resource.RLIMIT_MSGQUEUE, (0, 0))
    if "mem_limit" not in cfg["cg"]:
        # Without a memory cgroup the only cap is per process (children each get their own).
        mem = int(limits["memory_mb"]) * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (mem, mem))


def _safe_rel(path: str) -> str:
    norm = os.path.normpath(path)
    if os.path.isabs(norm) or norm == "." or norm.startswith(".."):
        raise ValueError(f"job file {path!r} escapes the scratch directory")
    return norm


def _write_files(files: list[tuple[str, bytes]]) -> None:
    for rel, content in files:
        target = os.path.join(WORK, _safe_rel(rel))
        os.makedirs(os.path.dirname(target), exist_ok=True)
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
        try:
            view = memoryview(content)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)


_STASH = "/.godel-stash"


def _tmp_binds(cfg: dict[str, Any]) -> list[str]:
    return [p for p in cfg["binds"] if p == "/tmp" or p.startswith("/tmp/")]


def _box_options(disk_mb: int) -> str:
    return f"size={disk_mb}m,nr_inodes={max(1024, disk_mb * 256)}"


class _Prepared:
    """What an idle child set up before its job arrived (see :func:`_prepare`)."""

    __slots__ = ("disk_mb", "main", "oom_fd", "ruleset")

    def __init__(self) -> None:
        self.disk_mb = 0
        self.oom_fd = -1
        self.ruleset = -1
        self.main: Any = None


def _prepare(cfg: dict[str, Any]) -> _Prepared:
    """The job-independent part of the set-up, done while the child waits so a job starts on a prepared process.

    Still root here: the bounding set goes (effective capabilities stay until the uid changes), the scratch
    tmpfs is mounted at the size the last job asked for (remounted if the next one differs), the Landlock
    ruleset is built on it, and the interpreter already has the job's environment, ``sys.path`` and ``__main__``.
    """
    # Imported now (exec mode's fresh interpreter has none of them), so the job's start only looks them up.
    import atexit  # noqa: F401
    import linecache  # noqa: F401
    import resource  # noqa: F401
    import threading  # noqa: F401
    import traceback  # noqa: F401

    prep = _Prepared()
    uid, gid = int(cfg["uid"]), int(cfg["gid"])
    if _JOB_MAIN is None:
        _linux.drop_bounding_set(int(cfg["last_cap"]))
    prep.oom_fd = os.open("/proc/self/oom_score_adj", os.O_WRONLY | os.O_CLOEXEC)
    if not cfg["proc"]:
        _linux.umount2("/proc", _linux.MNT_DETACH)
    prep.disk_mb = int(cfg["disk_mb"])
    opts = _box_options(prep.disk_mb)
    _linux.mount(
        "tmpfs", BOX, "tmpfs", _linux.MS_NOSUID | _linux.MS_NODEV, f"{opts},mode=0700,uid={uid},gid={gid}"
    )
    if cfg["tmp_binds"]:
        # A fresh writable /tmp for this job when /tmp holds bind mounts (else /tmp is a link into the job's box).
        _linux.mount("tmpfs", "/tmp", "tmpfs", _linux.MS_NOSUID | _linux.MS_NODEV, f"{opts},mode=1777")
        for i, path in enumerate(cfg["tmp_binds"]):
            os.makedirs(path, exist_ok=True)
            _bind(f"{_STASH}/{i}", path)
    for path, mode in ((WORK, 0o755), (BOX + "/tmp", 0o700)):
        os.mkdir(path, mode)
        os.chown(path, uid, gid)
    os.chdir(WORK)
    abi = int(cfg["landlock_abi"])
    if abi > 0:
        rw = (1 << 16) - 1
        dev_rw = _linux.LL_READ_FILE | _linux.LL_WRITE_FILE | _linux.LL_TRUNCATE | _linux.LL_IOCTL_DEV
        rules = [("/", _linux.LL_READ), (BOX, rw)]
        if cfg["tmp_binds"]:
            rules.append(("/tmp", rw))  # the job's private /tmp (its bind mounts stay read-only mounts)
        rules += [
            (f"/dev/{d}", dev_rw if d in ("null", "zero", "full") else _linux.LL_READ_FILE) for d in _DEVICES
        ]
        prep.ruleset = _linux.landlock_ruleset(abi, rules)
    if cfg["seccomp_early"] is not None:
        _linux.seccomp_install(cfg["seccomp_early"])  # as root, so no_new_privs can wait for the job
    prep.main = _JOB_MAIN if _JOB_MAIN is not None else _job_interpreter(cfg)
    sys.modules["__main__"] = prep.main
    return prep


_JOB_MAIN: Any = None  # set by a fork-mode server: its children inherit an interpreter already made ready


def _job_interpreter(cfg: dict[str, Any]) -> Any:
    """Give this interpreter the job's environment, ``sys.path`` and executable, drop godel's own modules, and
    return a fresh ``__main__`` for the job.

    A fork-mode server does this once for all its children: each first write to an inherited page costs a child a
    copy-on-write fault (a few microseconds each here), and this alone touched about a hundred pages.
    """
    import types

    os.environ.clear()
    os.environ.update(
        {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": WORK, "TMPDIR": BOX + "/tmp", "LANG": "C.UTF-8",
         "USER": "sandbox"}
    )  # fmt: skip
    sys.path[:] = [WORK, *cfg["sys_path"]]
    sys.executable = cfg["python"]
    for name in [n for n in sys.modules if n == "godel" or n.startswith("godel.")]:
        del sys.modules[name]
    main = types.ModuleType("__main__")
    main.__dict__["__builtins__"] = __builtins__
    return main


def _confine(cfg: dict[str, Any], prep: _Prepared, limits: dict[str, Any]) -> None:
    """The job-dependent set-up, in an order where each step is still permitted."""
    disk = int(limits["disk_mb"])
    if disk != prep.disk_mb:
        flags, opts = _linux.MS_REMOUNT | _linux.MS_NOSUID | _linux.MS_NODEV, _box_options(disk)
        _linux.mount(None, BOX, None, flags, opts)
        if cfg["tmp_binds"]:
            _linux.mount(None, "/tmp", None, flags, opts)
    uid, gid = int(cfg["uid"]), int(cfg["gid"])
    os.setgroups([])
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)  # clears the permitted and effective capability sets


def _lock_down(cfg: dict[str, Any], prep: _Prepared) -> None:
    _linux.set_no_new_privs()
    if prep.ruleset >= 0:
        _linux.landlock_enforce(prep.ruleset)
    if cfg["seccomp_late"] is not None:
        _linux.seccomp_install(cfg["seccomp_late"])


def _exit_code(exc: SystemExit) -> int:
    code = exc.code
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    with _suppress(Exception):
        print(code, file=sys.stderr)
    return 1


def _run_job(prep: _Prepared, source: str, argv: list[str]) -> None:
    """Run the job as __main__ and leave through os._exit; never returns."""
    import atexit
    import linecache
    import threading
    import traceback

    sys.argv = ["<job>", *argv]
    rc = 0
    try:
        lines = source.splitlines(True)
        linecache.cache["<job>"] = (len(source), None, lines, "<job>")
        code = compile(source, "<job>", "exec")
        del source, lines
        exec(code, prep.main.__dict__)
    except SystemExit as exc:
        rc = _exit_code(exc)
    except BaseException:
        with _suppress(BaseException):
            traceback.print_exc()
        rc = 1
    try:
        threading._shutdown()  # type: ignore[attr-defined]
        atexit._run_exitfuncs()
    except SystemExit as exc:
        rc = _exit_code(exc)
    except BaseException:
        with _suppress(BaseException):
            traceback.print_exc()
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        with _suppress(BaseException):
            if stream is not None:
                stream.flush()
    os._exit(rc)


def _idle(idle: bool) -> None:
    # An idle child boots, prepares and waits under SCHED_IDLE, so it never takes the CPU from a running job; it
    # returns to the normal policy and priority (root may) once it has a job.
    with _suppress(OSError):
        if idle:
            os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
        else:
            os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))
            os.setpriority(os.PRIO_PROCESS, 0, 0)


def child_main(cfg: dict[str, Any]) -> None:
    """Prepare, wait for one job on the job socket, confine this process and run the job. Never returns."""
    try:
        _idle(True)
        _linux.set_name(_linux.process_name(int(cfg["uid"])))  # again: exec mode's execve reset it
        prep = _prepare(cfg)
        try:
            (size,) = struct.unpack("<Q", _read_exact(_JOB_FD, 8))
            source, files, argv, limits = marshal.loads(_read_exact(_JOB_FD, size))
        except EOFError:
            os._exit(0)  # the host dropped this ready child
        _idle(False)
        with _suppress(OSError):
            # The host may have pinned this child to its own CPU to hand the job over without a cross-CPU
            # wake-up; the job itself may use every CPU the slot may.
            os.sched_setaffinity(0, cfg["cpus"])
    except BaseException as exc:
        _status("error", kind="infra", message=f"{type(exc).__name__}: {exc}")
        os._exit(125)
    step = "applying the cgroup limits"
    try:
        base = _apply_cgroup(cfg, prep, limits)
        _status("taken", wall=float(limits["wall_seconds"]), mem_base=base, disk_mb=int(limits["disk_mb"]))
        step = "preparing the scratch directory"
        _confine(cfg, prep, limits)
        step = "writing the job's files"
        try:
            _write_files(files)
        except (OSError, ValueError) as exc:
            _status("error", kind="job", message=f"cannot write the job's files: {exc}")
            os._exit(125)
        del files
        step = "setting limits"
        _set_rlimits(cfg, limits)
        step = "confining"
        _lock_down(cfg, prep)
        import resource

        own = resource.getrusage(resource.RUSAGE_SELF)
        _status("go", cpu_before=own.ru_utime + own.ru_stime, at=time.monotonic())
        os.closerange(_JOB_FD, 1 << 20)
    except BaseException as exc:
        _status("error", kind="infra", message=f"{step}: {type(exc).__name__}: {exc}")
        os._exit(125)
    _run_job(prep, source, argv)


# --- the server --------------------------------------------------------------------------------------------------


class _Child:
    __slots__ = ("cid", "error", "go", "pid", "pidfd", "started", "status_fd", "taken", "wall")

    def __init__(self, cid: int, pid: int, pidfd: int, status_fd: int) -> None:
        self.cid, self.pid, self.pidfd, self.status_fd = cid, pid, pidfd, status_fd
        self.taken = self.go = False
        self.error: dict[str, Any] | None = None
        self.wall = 0.0
        self.started = 0.0


def _bind(src: str, target: str, *, device: bool = False) -> None:
    _linux.mount(src, target, None, _linux.MS_BIND | _linux.MS_REC)
    flags = _linux.MS_REMOUNT | _linux.MS_BIND | _linux.MS_RDONLY | _linux.MS_NOSUID
    if not device:
        flags |= _linux.MS_NODEV
    _linux.mount(None, target, None, flags)


def _build_root(root: str, cfg: dict[str, Any], etc: dict[str, bytes], links: dict[str, str]) -> None:
    _linux.mount("tmpfs", root, "tmpfs", _linux.MS_NOSUID | _linux.MS_NODEV, "size=4m,mode=0755")
    for name, target in links.items():
        os.symlink(target, f"{root}/{name}")
    for path in cfg["binds"]:
        inside = root + path
        os.makedirs(inside, exist_ok=True)
        _bind(path, inside)
    # Binds below /tmp (a virtualenv in a checkout under /tmp, say) also go to a stash, from which every job
    # re-binds them onto its own fresh /tmp (see _prepare).
    for i, path in enumerate(_tmp_binds(cfg)):
        stash = f"{root}{_STASH}/{i}"
        os.makedirs(stash, exist_ok=True)
        _bind(path, stash)
    os.makedirs(f"{root}/etc", exist_ok=True)
    for name, content in etc.items():
        with open(f"{root}/etc/{name}", "wb") as fh:
            fh.write(content)
    os.makedirs(f"{root}/dev", exist_ok=True)
    for dev in _DEVICES:
        open(f"{root}/dev/{dev}", "wb").close()
        _bind(f"/dev/{dev}", f"{root}/dev/{dev}", device=True)
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
        with _suppress(OSError), open("/etc/ld.so.cache", "rb") as fh:
            etc["ld.so.cache"] = fh.read()
        links = {name: os.readlink(f"/{name}") for name in ("bin", "lib", "lib32", "lib64", "libx32", "sbin")
                 if os.path.islink(f"/{name}")}  # fmt: skip
        localtime = os.readlink("/etc/localtime") if os.path.islink("/etc/localtime") else None
        for name in cfg["preload"]:
            with _suppress(Exception):
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
        # Leave the host: private mounts, no network, own ipc/uts; then a root holding only what Python needs.
        _linux.unshare(_linux.CLONE_NEWNS | _linux.CLONE_NEWNET | _linux.CLONE_NEWIPC | _linux.CLONE_NEWUTS)
        _linux.mount(None, "/", None, _linux.MS_REC | _linux.MS_PRIVATE)
        root = cfg["root_mountpoint"]
        _build_root(root, cfg, etc, links)
        if localtime:
            with _suppress(OSError):
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
        cg_targets = {name: _FIRST_CG_FD + i for i, name in enumerate(child_cg)}
        self.child_cg_fds = [self.cg_fds[n] for n in child_cg]
        self.child_cfg = {
            "uid": cfg["uid"], "gid": cfg["gid"], "last_cap": last_cap, "landlock_abi": cfg["landlock_abi"],
            "seccomp_early": seccomp_early, "seccomp_late": seccomp_late, "sys_path": cfg["sys_path"],
            "python": cfg["python"], "cg": cg_targets,
            "proc": cfg["proc"], "ready": self.ready_target, "tmp_binds": _tmp_binds(cfg),
            "disk_mb": int(cfg["disk_mb"]), "cpus": cfg["cpus"],
        }  # fmt: skip
        if self.mode == "exec":
            self._make_blob()
        else:
            global _JOB_MAIN
            # Everything every child would otherwise redo: see _job_interpreter. The bounding set only limits
            # what an execve could gain, and this server never execs.
            for name in ("fcntl", "json", "select", "signal", "socket", "traceback"):
                __import__(name)  # imported lazily below; sys.path is the job's from here on
            _linux.drop_bounding_set(last_cap)
            _JOB_MAIN = _job_interpreter(self.child_cfg)
        gc.collect()
        gc.freeze()
        self.poll.register(self.ctl.fileno(), select.POLLIN)

    def _read_modules(self) -> None:
        for name in ("godel.sandbox._linux", "godel.sandbox._zygote_server"):
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

        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        res_r, res_w = os.pipe()
        st_r, st_w = os.pipe()
        rep_r, rep_w = os.pipe()
        job_host, job_child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        fds = [self.devnull, out_w, err_w, res_w, job_child.fileno(), st_w, rep_w, *self.child_cg_fds]
        if self.mode == "exec":
            fds.append(self.blob_fd)
        pid = _linux.clone_fork(_CLONE_FLAGS)
        if pid == 0:
            self._child_boot(fds)
        for fd in (out_w, err_w, res_w, st_w, rep_w):
            os.close(fd)
        job_child.close()
        pidfd = os.pidfd_open(pid)
        cid = self.next_cid
        self.next_cid += 1
        child = _Child(cid, pid, pidfd, st_r)
        self.children[pidfd] = child
        self.by_status[st_r] = child
        self.ready.append(child)
        self.poll.register(pidfd, select.POLLIN)
        self.poll.register(st_r, select.POLLIN)
        host_pidfd = os.dup(pidfd)
        try:
            self._send(
                {"t": "ready", "cid": cid, "pid": pid},
                [job_host.fileno(), out_r, err_r, res_r, rep_r, host_pidfd],
            )
        finally:
            job_host.close()
            for fd in (out_r, err_r, res_r, rep_r, host_pidfd):
                os.close(fd)

    def _child_boot(self, fds: list[int]) -> None:
        """In the freshly cloned child (PID 1 of its namespace): arrange descriptors, then wait for a job."""
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
            with _suppress(OSError):
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
            with _suppress(BaseException):
                _status("error", kind="infra", message=f"child start: {type(exc).__name__}: {exc}")
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

    def _on_exit(self, pidfd: int) -> None:
        """A child ended. The host, its parent, reaps it and reports the job; we only refill and count losses."""
        child = self.children.pop(pidfd)
        self.poll.unregister(pidfd)
        if child.status_fd >= 0:
            # Collect the child's last words before reporting it.
            with _suppress(OSError):
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
        with _suppress(OSError):
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
                    with _suppress(OSError):
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

    def shutdown(self) -> None:
        import signal

        for pidfd in list(self.children):
            with _suppress(OSError):
                signal.pidfd_send_signal(pidfd, signal.SIGKILL)


def fcntl_dupfd(fd: int, base: int) -> int:
    import fcntl

    new = fcntl.fcntl(fd, fcntl.F_DUPFD, base)
    os.close(fd)
    return new


# Run by the fresh interpreter of exec mode: load this module and _linux from the server's sealed memfd.
EXEC_BOOT = """
import marshal, os, sys, types
fd, size = int(sys.argv[1]), int(sys.argv[2])
mods, cfg = marshal.loads(os.pread(fd, size, 0))
for name in ("godel", "godel.sandbox"):
    pkg = types.ModuleType(name); pkg.__path__ = []; sys.modules[name] = pkg
for name, code in mods:
    mod = types.ModuleType(name); sys.modules[name] = mod; exec(marshal.loads(code), mod.__dict__)
del mods
sys.modules["godel.sandbox._zygote_server"].child_main(cfg)
"""


def server_main(cfg: dict[str, Any]) -> None:
    # Named for the slot before any clone, so every child is born with the name the host sweeps strays by.
    _linux.set_name(_linux.process_name(int(cfg["uid"])))
    server = _Server(cfg)
    try:
        server.setup()
    except BaseException as exc:
        with _suppress(OSError):
            import traceback

            where = traceback.extract_tb(exc.__traceback__)[-1]
            server._send(
                {"t": "fatal", "message": f"sandbox server set-up failed: {type(exc).__name__}: {exc} "
                 f"(at {os.path.basename(where.filename)}:{where.lineno} {where.line})"}
            )  # fmt: skip
        raise
    server.loop()
