"""Thin ctypes wrappers around the Linux calls the zygote needs (namespaces, mounts, Landlock, seccomp, caps).

Standard library only: this module is also loaded by file path inside the fork-server and inside the fresh
interpreters of exec mode, where ``godel`` itself is not importable. No libseccomp: the seccomp filter is a short
classic-BPF program assembled here by hand.
"""

from __future__ import annotations

import ctypes
import os
import struct

TYPE_CHECKING = False  # keeps typing/collections out of the fresh interpreters of exec mode
if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

__all__ = [
    "CLONE_CHILD_SETTID",
    "CLONE_NEWIPC",
    "CLONE_NEWNET",
    "CLONE_NEWNS",
    "CLONE_NEWPID",
    "CLONE_NEWUTS",
    "CLONE_PARENT",
    "LinuxError",
    "clone_fork",
    "drop_bounding_set",
    "landlock_abi",
    "landlock_enforce",
    "landlock_ruleset",
    "mount",
    "pivot_root",
    "prctl",
    "process_name",
    "seccomp_filter",
    "seccomp_install",
    "set_name",
    "set_no_new_privs",
    "set_pdeathsig",
    "setns",
    "spawn_pause",
    "syscall_numbers",
    "thread_id_address",
    "umount2",
    "unshare",
]

CLONE_PARENT = 0x00008000
CLONE_CHILD_SETTID = 0x01000000
CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWTIME = 0x00000080
_CLONE_NS_MASK = (
    CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWCGROUP
) | CLONE_NEWTIME

MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
MNT_DETACH = 2

PR_SET_PDEATHSIG = 1
PR_SET_NAME = 15
PR_CAPBSET_DROP = 24
PR_SET_NO_NEW_PRIVS = 38
PR_GET_NO_NEW_PRIVS = 39
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_CLEAR_ALL = 4
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2


class LinuxError(OSError):
    """A Linux call failed; ``errno`` holds the kernel's answer."""


# x86_64 numbers (checked against asm/unistd_64.h); other architectures get no seccomp filter.
_X86_64 = {
    "ioctl": 16, "gettid": 186, "socket": 41, "socketpair": 53, "clone": 56, "ptrace": 101, "syslog": 103,
    "uselib": 134, "personality": 135, "ustat": 136, "sysfs": 139, "vhangup": 153, "pivot_root": 155,
    "_sysctl": 156, "adjtimex": 159, "chroot": 161, "acct": 163, "settimeofday": 164, "mount": 165,
    "umount2": 166, "swapon": 167, "swapoff": 168, "reboot": 169, "sethostname": 170, "setdomainname": 171,
    "iopl": 172, "ioperm": 173, "create_module": 174, "init_module": 175, "delete_module": 176,
    "get_kernel_syms": 177, "query_module": 178, "quotactl": 179, "nfsservctl": 180, "lookup_dcookie": 212,
    "clock_settime": 227, "kexec_load": 246, "add_key": 248, "request_key": 249, "keyctl": 250,
    "migrate_pages": 256, "unshare": 272, "move_pages": 279, "perf_event_open": 298, "fanotify_init": 300,
    "name_to_handle_at": 303, "open_by_handle_at": 304, "clock_adjtime": 305, "setns": 308,
    "process_vm_readv": 310, "process_vm_writev": 311, "kcmp": 312, "finit_module": 313,
    "kexec_file_load": 320, "bpf": 321, "userfaultfd": 323, "io_uring_setup": 425, "io_uring_enter": 426,
    "io_uring_register": 427, "open_tree": 428, "move_mount": 429, "fsopen": 430, "fsconfig": 431,
    "fsmount": 432, "fspick": 433, "pidfd_open": 434, "clone3": 435, "pidfd_getfd": 438,
    "mount_setattr": 442, "landlock_create_ruleset": 444, "landlock_add_rule": 445,
    "landlock_restrict_self": 446, "memfd_secret": 447,
}  # fmt: skip
_AUDIT_ARCH_X86_64 = 0xC000003E
_X32_SYSCALL_BIT = 0x40000000

_libc = ctypes.CDLL(None, use_errno=True)
# PyDLL keeps the GIL held across the call: required for clone, where the child must resume Python at once.
_libc_gil = ctypes.PyDLL(None, use_errno=True)
_syscall = _libc.syscall
_syscall.restype = ctypes.c_long


def syscall_numbers() -> dict[str, int] | None:
    """The syscall table for this machine's architecture, or None when it is not supported."""
    return _X86_64 if os.uname().machine == "x86_64" else None


def _nr(name: str) -> int:
    table = syscall_numbers()
    if table is None:
        raise LinuxError(95, f"{name}: architecture {os.uname().machine} is not supported")
    return table[name]


def _check(result: int, what: str) -> int:
    if result < 0:
        err = ctypes.get_errno()
        raise LinuxError(err, f"{what}: {os.strerror(err)}")
    return result


def unshare(flags: int) -> None:
    _check(_libc.unshare(ctypes.c_int(flags)), "unshare")


def mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    _check(
        _libc.mount(
            source.encode() if source is not None else None,
            target.encode(),
            fstype.encode() if fstype is not None else None,
            ctypes.c_ulong(flags),
            data.encode() if data is not None else None,
        ),
        f"mount {target}",
    )


def setns(fd: int, nstype: int) -> None:
    _check(_libc.setns(ctypes.c_int(fd), ctypes.c_int(nstype)), "setns")


def umount2(target: str, flags: int) -> None:
    _check(_libc.umount2(target.encode(), ctypes.c_int(flags)), f"umount {target}")


def pivot_root(new_root: str, put_old: str) -> None:
    _check(_syscall(ctypes.c_long(_nr("pivot_root")), new_root.encode(), put_old.encode()), "pivot_root")


def prctl(option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0) -> int:
    return _check(
        _libc.prctl(
            ctypes.c_int(option), ctypes.c_ulong(arg2), ctypes.c_ulong(arg3), ctypes.c_ulong(arg4),
            ctypes.c_ulong(arg5),
        ),
        f"prctl({option})",
    )  # fmt: skip


def set_pdeathsig(sig: int) -> None:
    prctl(PR_SET_PDEATHSIG, sig)


def set_name(name: str) -> None:
    """This process's ``comm`` (at most 15 bytes); a zombie keeps it, so the host can tell its own."""
    _check(
        _libc.prctl(ctypes.c_int(PR_SET_NAME), ctypes.c_char_p(name.encode()[:15]), 0, 0, 0),
        "prctl(PR_SET_NAME)",
    )


def process_name(uid: int) -> str:
    """The ``comm`` of every sandboxed child of the slot whose jobs run as ``uid``."""
    return f"godel{uid}"[:15]


def set_no_new_privs() -> None:
    prctl(PR_SET_NO_NEW_PRIVS, 1)


def drop_bounding_set(last_cap: int) -> None:
    """Drop every capability from the bounding and ambient sets (needs CAP_SETPCAP, so call as root)."""
    for cap in range(last_cap + 1):
        prctl(PR_CAPBSET_DROP, cap)
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)


_pythonapi = ctypes.pythonapi


def thread_id_address() -> int:
    """Where libc keeps the calling thread's id (0 if it cannot be told for sure).

    libc caches each thread's kernel id in its thread descriptor and uses it for ``raise``, ``abort``,
    ``pthread_kill`` and ``pthread_getschedparam``; its ``fork`` has the kernel write the child's id there
    (``CLONE_CHILD_SETTID``), and :func:`clone_fork` must do the same, or the child's libc keeps the parent's id
    (raise() then fails, abort() ends in SIGSEGV, and pthread_getschedparam fails, which abseil's mutex logs on
    every lock). The descriptor's layout is libc's own, so the field is found, not assumed: the one int in the
    descriptor's first 4 KiB that holds this thread's id (glibc on x86_64: offset 0x2d0).
    """
    table = syscall_numbers()
    if table is None:
        return 0
    _libc.pthread_self.restype = ctypes.c_void_p
    base = _libc.pthread_self()
    tid = _syscall(ctypes.c_long(table["gettid"]))
    if not base or tid <= 0:
        return 0
    hits = [off for off in range(0, 4096, 4) if ctypes.c_int.from_address(base + off).value == tid]
    return base + hits[0] if len(hits) == 1 else 0


CLONE_VM = 0x00000100
CLONE_FS = 0x00000200
CLONE_FILES = 0x00000400
# What a pause child shares with us instead of copying (and closing again at its end): memory, descriptor table,
# cwd/root.
_SHARED = CLONE_VM | CLONE_FS | CLONE_FILES
_SIGCHLD = 17
_libc.clone.restype = ctypes.c_int
_libc.clone.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p]
_PAUSE = ctypes.cast(_libc.pause, ctypes.c_void_p)
_PAUSE_STACK = 16384


def spawn_pause(flags: int = 0) -> tuple[int, ctypes.Array[ctypes.c_char]]:
    """A child that only waits for SIGKILL: libc's ``pause`` on a small stack of its own, in our address space.

    It shares our memory, descriptor table and cwd/root instead of copying them, so it costs ~0.1 ms where a fork
    of a large interpreter or an exec costs a millisecond, and its end tears nothing down; it holds no descriptor
    of its own (what we close is closed for it too). It runs no code of ours and has every signal blocked (the mask
    is inherited; the handler table is a copy of ours, whose handlers must never run in it), so nothing but
    SIGKILL or SIGSTOP reaches it. Returns its pid and the stack, which must be kept until it has been reaped.
    """
    import signal

    stack = ctypes.create_string_buffer(_PAUSE_STACK)
    top = (ctypes.addressof(stack) + _PAUSE_STACK - 64) & ~15
    old = signal.pthread_sigmask(signal.SIG_BLOCK, signal.valid_signals())
    try:
        pid = _libc.clone(_PAUSE, ctypes.c_void_p(top), ctypes.c_int(flags | _SHARED | _SIGCHLD), None)
        err = ctypes.get_errno()
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)
    if pid < 0:
        raise LinuxError(err, f"clone: {os.strerror(err)}")
    return pid, stack


def clone_fork(flags: int, tid_address: int = 0) -> int:
    """``os.fork`` with extra clone flags (e.g. new pid and mount namespaces for the child in one step).

    It runs the interpreter's own before/after-fork hooks, so ``os.register_at_fork`` callbacks (random reseeding,
    threading state) behave as after ``os.fork``, and with ``tid_address`` (from :func:`thread_id_address`) gives
    libc the child's thread id as its ``fork`` does. Only call it from a single-threaded process.
    """
    if tid_address:
        flags |= CLONE_CHILD_SETTID
    _pythonapi.PyOS_BeforeFork()
    # x86_64: clone(flags, stack, parent_tid, child_tid, tls)
    pid = _libc_gil.syscall(
        ctypes.c_long(_nr("clone")),
        ctypes.c_ulong(flags | 17),
        None,
        None,
        ctypes.c_void_p(tid_address) if tid_address else None,
        None,
    )
    if pid == 0:
        _pythonapi.PyOS_AfterFork_Child()
        return 0
    err = ctypes.get_errno()
    _pythonapi.PyOS_AfterFork_Parent()
    if pid < 0:
        raise LinuxError(err, f"clone: {os.strerror(err)}")
    return int(pid)


# --- Landlock -------------------------------------------------------------------------------------------------

LL_EXECUTE = 1 << 0
LL_WRITE_FILE = 1 << 1
LL_READ_FILE = 1 << 2
LL_READ_DIR = 1 << 3
LL_REMOVE_DIR = 1 << 4
LL_REMOVE_FILE = 1 << 5
LL_MAKE_CHAR = 1 << 6
LL_MAKE_DIR = 1 << 7
LL_MAKE_REG = 1 << 8
LL_MAKE_SOCK = 1 << 9
LL_MAKE_FIFO = 1 << 10
LL_MAKE_BLOCK = 1 << 11
LL_MAKE_SYM = 1 << 12
LL_REFER = 1 << 13  # ABI 2
LL_TRUNCATE = 1 << 14  # ABI 3
LL_IOCTL_DEV = 1 << 15  # ABI 5
LL_NET_BIND_TCP = 1 << 0  # ABI 4
LL_NET_CONNECT_TCP = 1 << 1
LL_SCOPE_ABSTRACT_UNIX = 1 << 0  # ABI 6
LL_SCOPE_SIGNAL = 1 << 1
_LL_CREATE_RULESET_VERSION = 1
_LL_RULE_PATH_BENEATH = 1

LL_READ = LL_EXECUTE | LL_READ_FILE | LL_READ_DIR


def landlock_abi() -> int:
    """Landlock ABI version, 0 when unavailable."""
    table = syscall_numbers()
    if table is None:
        return 0
    res = _syscall(ctypes.c_long(table["landlock_create_ruleset"]), None, ctypes.c_size_t(0),
                   ctypes.c_uint32(_LL_CREATE_RULESET_VERSION))  # fmt: skip
    return max(0, int(res))


def _fs_rights(abi: int) -> int:
    rights = (1 << 13) - 1
    if abi >= 2:
        rights |= LL_REFER
    if abi >= 3:
        rights |= LL_TRUNCATE
    if abi >= 5:
        rights |= LL_IOCTL_DEV
    return rights


def landlock_ruleset(abi: int, rules: Sequence[tuple[str, int]]) -> int:
    """A ruleset descriptor: only ``rules`` (path, access) on the file system, no TCP, scoped signals/sockets.

    Built ahead of time (rules bind to the inodes the paths name now: build it after mounting what they name),
    enforced later by :func:`landlock_enforce`. Access bits not known to ``abi`` are masked out, so callers can
    pass the full set.
    """
    handled = _fs_rights(abi)
    attr = struct.pack("<Q", handled)
    if abi >= 4:
        attr += struct.pack("<Q", LL_NET_BIND_TCP | LL_NET_CONNECT_TCP)
    if abi >= 6:
        attr += struct.pack("<Q", LL_SCOPE_ABSTRACT_UNIX | LL_SCOPE_SIGNAL)
    buf = ctypes.create_string_buffer(attr, len(attr))
    table = syscall_numbers()
    assert table is not None
    ruleset = _check(
        _syscall(ctypes.c_long(table["landlock_create_ruleset"]), buf, ctypes.c_size_t(len(attr)),
                 ctypes.c_uint32(0)),
        "landlock_create_ruleset",
    )  # fmt: skip
    try:
        for path, access in rules:
            fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            try:
                allowed = access & handled
                if not os.path.isdir(path):
                    # Directory-only rights on a file make add_rule fail with EINVAL.
                    allowed &= LL_EXECUTE | LL_WRITE_FILE | LL_READ_FILE | LL_TRUNCATE | LL_IOCTL_DEV
                rule = ctypes.create_string_buffer(struct.pack("<Qi", allowed, fd), 12)
                _check(
                    _syscall(ctypes.c_long(table["landlock_add_rule"]), ctypes.c_int(ruleset),
                             ctypes.c_int(_LL_RULE_PATH_BENEATH), rule, ctypes.c_uint32(0)),
                    f"landlock_add_rule {path}",
                )  # fmt: skip
            finally:
                os.close(fd)
    except BaseException:
        os.close(ruleset)
        raise
    return ruleset


def landlock_enforce(ruleset: int) -> None:
    """Confine this process by a ruleset from :func:`landlock_ruleset` (no_new_privs must already be set)."""
    _check(
        _syscall(ctypes.c_long(_nr("landlock_restrict_self")), ctypes.c_int(ruleset), ctypes.c_uint32(0)),
        "landlock_restrict_self",
    )


# --- seccomp --------------------------------------------------------------------------------------------------

_BPF_LD_W_ABS = 0x20
_BPF_JEQ_K = 0x15
_BPF_JGE_K = 0x35
_BPF_JSET_K = 0x45
_BPF_RET_K = 0x06
_RET_ALLOW = 0x7FFF0000
_RET_ERRNO = 0x00050000
_RET_KILL_PROCESS = 0x80000000
_EPERM = 1
_ENOSYS = 38
_EAFNOSUPPORT = 97
_AF_UNIX = 1

# Kernel surface a candidate never needs: namespaces and mounts, tracing other processes, kernel modules, BPF,
# io_uring, the key store, perf, clock and host settings, file handles that bypass path checks.
DENIED_SYSCALLS = (
    "ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_getfd", "mount", "umount2", "pivot_root",
    "chroot", "unshare", "setns", "open_tree", "move_mount", "fsopen", "fsconfig", "fsmount", "fspick",
    "mount_setattr", "bpf", "perf_event_open", "userfaultfd", "io_uring_setup", "io_uring_enter",
    "io_uring_register", "keyctl", "add_key", "request_key", "init_module", "finit_module", "delete_module",
    "create_module", "get_kernel_syms", "query_module", "kexec_load", "kexec_file_load", "reboot", "swapon",
    "swapoff", "acct", "quotactl", "syslog", "lookup_dcookie", "name_to_handle_at", "open_by_handle_at",
    "iopl", "ioperm", "settimeofday", "clock_settime", "clock_adjtime", "adjtimex", "sethostname",
    "setdomainname", "vhangup", "fanotify_init", "nfsservctl", "uselib", "ustat", "sysfs", "_sysctl",
    "migrate_pages", "move_pages", "personality", "memfd_secret",
)  # fmt: skip


def seccomp_filter(denied: Iterable[str] = DENIED_SYSCALLS, *, arguments: bool = True) -> bytes | None:
    """The BPF program (bytes of ``struct sock_filter[]``), or None on an unsupported architecture.

    Denied calls fail with EPERM. With ``arguments``: ``socket``/``socketpair`` only for AF_UNIX (EAFNOSUPPORT
    otherwise); ``clone`` without namespace flags; ``clone3`` answers ENOSYS so libc falls back to ``clone``,
    whose flags we can see. Filters stack: a process may install several, and the strictest answer wins.
    """
    table = syscall_numbers()
    if table is None:
        return None
    prog: list[tuple[int, int, int, int]] = []
    fixups: list[tuple[int, str]] = []  # (instruction index, label) for jt targets

    def emit(code: int, jt: int, jf: int, k: int) -> None:
        prog.append((code, jt, jf, k))

    emit(_BPF_LD_W_ABS, 0, 0, 4)  # arch
    emit(_BPF_JEQ_K, 1, 0, _AUDIT_ARCH_X86_64)
    emit(_BPF_RET_K, 0, 0, _RET_KILL_PROCESS)
    emit(_BPF_LD_W_ABS, 0, 0, 0)  # nr
    emit(_BPF_JGE_K, 0, 1, _X32_SYSCALL_BIT)
    emit(_BPF_RET_K, 0, 0, _RET_ERRNO | _ENOSYS)
    for name in denied:
        fixups.append((len(prog), "deny"))
        emit(_BPF_JEQ_K, 0, 0, table[name])
    checked = (("socket", "sock"), ("socketpair", "sock"), ("clone", "clone"), ("clone3", "nosys"))
    for name, label in checked if arguments else ():
        fixups.append((len(prog), label))
        emit(_BPF_JEQ_K, 0, 0, table[name])
    emit(_BPF_RET_K, 0, 0, _RET_ALLOW)
    labels = {"deny": len(prog)}
    emit(_BPF_RET_K, 0, 0, _RET_ERRNO | _EPERM)
    labels["nosys"] = len(prog)
    emit(_BPF_RET_K, 0, 0, _RET_ERRNO | _ENOSYS)
    labels["sock"] = len(prog)
    emit(_BPF_LD_W_ABS, 0, 0, 16)  # args[0], low 32 bits (little endian)
    emit(_BPF_JEQ_K, 0, 1, _AF_UNIX)
    emit(_BPF_RET_K, 0, 0, _RET_ALLOW)
    emit(_BPF_RET_K, 0, 0, _RET_ERRNO | _EAFNOSUPPORT)
    labels["clone"] = len(prog)
    emit(_BPF_LD_W_ABS, 0, 0, 16)  # clone flags
    emit(_BPF_JSET_K, 0, 1, _CLONE_NS_MASK)
    emit(_BPF_RET_K, 0, 0, _RET_ERRNO | _EPERM)
    emit(_BPF_RET_K, 0, 0, _RET_ALLOW)
    for idx, label in fixups:
        code, _, jf, k = prog[idx]
        offset = labels[label] - idx - 1
        if not 0 <= offset <= 255:
            raise ValueError("seccomp filter too long for 8-bit jumps")
        prog[idx] = (code, offset, jf, k)
    return b"".join(struct.pack("<HBBI", *ins) for ins in prog)


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def seccomp_install(program: bytes) -> None:
    """Install a filter built by :func:`seccomp_filter` (no_new_privs must already be set)."""
    buf = ctypes.create_string_buffer(program, len(program))
    fprog = _SockFprog(len(program) // 8, ctypes.cast(buf, ctypes.c_void_p))
    _check(
        _libc.prctl(ctypes.c_int(PR_SET_SECCOMP), ctypes.c_ulong(SECCOMP_MODE_FILTER), ctypes.byref(fprog),
                    ctypes.c_ulong(0), ctypes.c_ulong(0)),
        "seccomp",
    )  # fmt: skip
