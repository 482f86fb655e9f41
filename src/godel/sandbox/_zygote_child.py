"""The code of each sandboxed child of the zygote: prepare, wait for one job, confine, run it. Standard library only.

A child is cloned by the fork server (:mod:`godel.sandbox._zygote_server`) into new pid/mount/ipc/uts namespaces;
in fork mode it runs straight on from the server's memory, in exec mode a fresh ``python -I -S`` loads this module
and :mod:`godel.sandbox._linux` (nothing else of godel) from the server's sealed memfd. Like the server it is loaded
by file path (the ``godel`` package is never imported here), and this module imports only the standard library and
``_linux``: everything here costs start-up in exec mode's fresh interpreter.

A cloned child is PID 2 of its pid namespace: PID 1 is an init the server spawned into the namespace just before
(it only waits to be killed), so the job dies of its own signals and ``abort()`` as it would anywhere else, which
a PID 1 does not.

A child prepares itself before its job arrives (see :func:`_prepare`): it mounts its scratch tmpfs, builds its
Landlock ruleset and installs the seccomp filter. When the job comes it sets the slot cgroup's limits, remounts the
scratch if the job wants another size, drops to the slot's uid with no capabilities, writes the job's files, sets
rlimits (soft = hard), no_new_privs, Landlock and a last seccomp filter for mount/umount2, closes every descriptor
but 0-3 and runs the code as ``__main__``. Set-up records (:func:`record`) go to the server and to the host, which
decodes them with :func:`decode_records`.
"""

from __future__ import annotations

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

__all__ = [
    "BOX",
    "DEVICES",
    "FIRST_CG_FD",
    "STASH",
    "WORK",
    "bind",
    "child_main",
    "decode_records",
    "ready_job_interpreter",
    "record",
    "suppress",
    "tmp_binds",
]

BOX = "/box"  # the job's tmpfs: WORK is its working directory, /tmp points to BOX/tmp
WORK = BOX + "/work"
# A child's descriptors, as the server arranges them before it runs: 0 /dev/null, 1-2 stdout/stderr, 3 the
# result channel, then these, then the slot cgroup's files.
_JOB_FD = 4
_STATUS_FD = 5  # set-up records to the server (it refills the ready pool and keeps a backstop timer)
_REPORT_FD = 6  # the same records to the host (it reaps the job and needs to know how far set-up got)
FIRST_CG_FD = 7
DEVICES = ("null", "zero", "full", "random", "urandom")
_SIGKILL = 9  # signal.SIGKILL, without importing signal into exec mode's fresh interpreter before it needs it


class suppress:
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


def record(tag: str, /, **data: Any) -> None:
    """Child -> server and host record on the status and report pipes (small, so one atomic write each)."""
    data["t"] = tag
    payload = marshal.dumps(data)[:4000]
    frame = struct.pack("<H", len(payload)) + payload
    for fd in (_REPORT_FD, _STATUS_FD):
        with suppress(OSError):
            os.write(fd, frame)


def decode_records(data: bytes) -> list[dict[str, Any]]:
    """The records :func:`record` framed into ``data``; a frame that does not decode reads as ``{"t": "garbled"}``."""
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
        # The job may use max_processes (this process included; its namespace's init is not the job's); the server
        # may refill its ready children, two processes each (a child and its init).
        allowed = current - 1 + int(limits["max_processes"]) + 2 * int(cfg["ready"])
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
        # Without a memory cgroup the only cap is per process (children each get their own). RLIMIT_DATA, not
        # RLIMIT_AS: native runtimes reserve much more address space than they use (JAX: 1.5 GB).
        mem = int(limits["memory_mb"]) * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_DATA, (mem, mem))


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


STASH = (
    "/.godel-stash"  # where the server parks binds below /tmp, for each job to bind again onto its own /tmp
)


def tmp_binds(cfg: dict[str, Any]) -> list[str]:
    return [p for p in cfg["binds"] if p == "/tmp" or p.startswith("/tmp/")]


def _box_options(disk_mb: int) -> str:
    return f"size={disk_mb}m,nr_inodes={max(1024, disk_mb * 256)}"


def bind(src: str, target: str, *, device: bool = False) -> None:
    """Bind ``src`` onto ``target`` read-only (and nodev unless it is a device node)."""
    _linux.mount(src, target, None, _linux.MS_BIND | _linux.MS_REC)
    flags = _linux.MS_REMOUNT | _linux.MS_BIND | _linux.MS_RDONLY | _linux.MS_NOSUID
    if not device:
        flags |= _linux.MS_NODEV
    _linux.mount(None, target, None, flags)


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
            bind(f"{STASH}/{i}", path)
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
            (f"/dev/{d}", dev_rw if d in ("null", "zero", "full") else _linux.LL_READ_FILE) for d in DEVICES
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


def ready_job_interpreter(cfg: dict[str, Any]) -> None:
    """In a fork-mode server, once: ready its interpreter for jobs, so every child it forks inherits that state."""
    global _JOB_MAIN
    _JOB_MAIN = _job_interpreter(cfg)


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
    # A change of credentials clears the parent-death signal set at the clone: set it again, or the job outlives a
    # killed engine until the server (SCHED_IDLE, so late on a busy machine) notices and kills it.
    _linux.set_pdeathsig(_SIGKILL)


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
    with suppress(Exception):
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
        with suppress(BaseException):
            traceback.print_exc()
        rc = 1
    try:
        threading._shutdown()  # type: ignore[attr-defined]
        atexit._run_exitfuncs()
    except SystemExit as exc:
        rc = _exit_code(exc)
    except BaseException:
        with suppress(BaseException):
            traceback.print_exc()
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        with suppress(BaseException):
            if stream is not None:
                stream.flush()
    os._exit(rc)


def _idle(idle: bool) -> None:
    # An idle child boots, prepares and waits under SCHED_IDLE, so it never takes the CPU from a running job; it
    # returns to the normal policy and priority (root may) once it has a job, and so does its namespace's init
    # (PID 1), which must end at once when the host kills it at the job's end.
    with suppress(OSError):
        if idle:
            os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
        else:
            for pid in (0, 1):  # this process and the namespace's init
                os.sched_setscheduler(pid, os.SCHED_OTHER, os.sched_param(0))
                os.setpriority(os.PRIO_PROCESS, pid, 0)


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
        with suppress(OSError):
            # The host may have pinned this child to its own CPU to hand the job over without a cross-CPU
            # wake-up; the job itself may use every CPU the slot may.
            os.sched_setaffinity(0, cfg["cpus"])
    except BaseException as exc:
        record("error", kind="infra", message=f"{type(exc).__name__}: {exc}")
        os._exit(125)
    step = "applying the cgroup limits"
    try:
        base = _apply_cgroup(cfg, prep, limits)
        record("taken", wall=float(limits["wall_seconds"]), mem_base=base, disk_mb=int(limits["disk_mb"]))
        step = "preparing the scratch directory"
        _confine(cfg, prep, limits)
        step = "writing the job's files"
        try:
            _write_files(files)
        except (OSError, ValueError) as exc:
            record("error", kind="job", message=f"cannot write the job's files: {exc}")
            os._exit(125)
        del files
        step = "setting limits"
        _set_rlimits(cfg, limits)
        step = "confining"
        _lock_down(cfg, prep)
        import resource

        own = resource.getrusage(resource.RUSAGE_SELF)
        record("go", cpu_before=own.ru_utime + own.ru_stime, at=time.monotonic())
        os.closerange(_JOB_FD, 1 << 20)
    except BaseException as exc:
        record("error", kind="infra", message=f"{step}: {type(exc).__name__}: {exc}")
        os._exit(125)
    _run_job(prep, source, argv)
