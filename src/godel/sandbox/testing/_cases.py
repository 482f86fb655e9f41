"""The adversarial cases: real candidate programs that try to escape, and what containment means for each.

Every program receives the host context as JSON in ``sys.argv[1]`` and, when it gets to the end, writes its own
verdict ``{"escaped": bool, "detail": str}`` to the result channel. A verdict is only a hint: the suite also checks
from the host (listeners got no connection, marker files do not exist, sentinel processes are alive, no process a
job started is left).

The programs run on any backend that runs Python: where an attack's primitive does not exist (no ``ctypes`` for raw
system calls, no ``os.fork`` on WASI), the attempt fails and the program says so in its verdict, so every case ends
in a verdict on every backend rather than being left out.

This module is longer than most on purpose: it is one catalogue (51 programs, mostly their text), read and extended
as one list.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from godel.sandbox._base import Limits

__all__ = ["CASES", "PRELUDE", "Case"]

PRELUDE = """
import errno, json, os, socket, sys, time
try:
    import ctypes
except ImportError:  # no C interface (CPython on WASI): no raw system call can even be attempted
    ctypes = libc = None
else:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
CTX = json.loads(sys.argv[1])
def report(escaped, detail=""):
    os.write(3, json.dumps({"escaped": bool(escaped), "detail": str(detail)[:800]}).encode())
def fails(fn, *args):
    try:
        fn(*args)
    except BaseException as exc:
        return True, "%s: %s" % (type(exc).__name__, exc)
    return False, "succeeded"
def sys_fails(nr, *args):
    res = libc.syscall(ctypes.c_long(nr), *args)
    return res < 0, "result %d errno %s" % (res, errno.errorcode.get(ctypes.get_errno(), ctypes.get_errno()))
def needs_libc():
    # The attack is raw system calls: without a C interface there is none to make.
    if libc is None:
        report(False, "no C interface to make system calls with")
        os._exit(0)
def needs_fork():
    if not hasattr(os, "fork"):
        report(False, "no os.fork: this backend runs no processes")
        os._exit(0)
"""


@dataclass(frozen=True)
class Case:
    name: str
    code: str
    limits: Limits = field(default_factory=lambda: Limits(wall_seconds=20.0))
    # None: the program must finish and report "escaped": False. Otherwise the accepted terminations.
    terminations: frozenset[str] | None = None
    host_check: str = ""  # an extra check from the host: no_tcp, no_udp, no_unix, no_abstract, no_marker...
    # A backend may also contain the attack by ending the job with termination "error" and a reason holding this
    # (e.g. wasm polls its scratch directory and kills a job past its disk limit, where a tmpfs says ENOSPC).
    killed_for: str = ""
    slow: bool = False  # takes a second or more (a wall-clock or CPU limit to reach, memory to fill)


def _connect(family: str, addr: str) -> str:
    return f"""
ok, detail = fails(lambda: socket.create_connection({addr}, timeout=2))
try:
    s = socket.socket({family}, socket.SOCK_STREAM)
    s.settimeout(2)
    s.connect({addr})
    report(True, "connected")
except OSError as exc:
    report(False, exc)
"""


CASES: list[Case] = [
    # --- network to the host -----------------------------------------------------------------------------------
    Case("tcp4_loopback", _connect("socket.AF_INET", '("127.0.0.1", CTX["tcp4"])'), host_check="no_tcp"),
    Case("tcp6_loopback", _connect("socket.AF_INET6", '("::1", CTX["tcp6"])'), host_check="no_tcp"),
    Case(
        "udp_loopback",
        """
ok, detail = fails(lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"leak", ("127.0.0.1", CTX["udp"])))
report(not ok, detail)
""",
        host_check="no_udp",
    ),
    Case(
        "raw_socket",
        """
ok, detail = fails(lambda: socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP))
ok6, detail6 = fails(lambda: socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0))
report(not (ok and ok6), [detail, detail6])
""",
    ),
    Case(
        "netlink_socket",
        """
ok, detail = fails(lambda: socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0))
report(not ok, detail)
""",
    ),
    Case(
        "unix_socket_path",
        """
ok, detail = fails(lambda: socket.socket(socket.AF_UNIX).connect(CTX["unix"]))
report(not ok, detail)
""",
        host_check="no_unix",
    ),
    Case(
        "unix_socket_abstract",
        """
ok, detail = fails(lambda: socket.socket(socket.AF_UNIX).connect("\\0" + CTX["abstract"]))
report(not ok, detail)
""",
        host_check="no_abstract",
    ),
    Case(
        "outside_network",
        """
ok, detail = fails(lambda: socket.create_connection(("1.1.1.1", 53), timeout=2))
ok2, detail2 = fails(socket.getaddrinfo, "pypi.org", 443)
report(not (ok and ok2), [detail, detail2])
""",
    ),
    Case(
        "network_interfaces",
        """
try:
    names = [n for _, n in socket.if_nameindex()]
except OSError as exc:  # needs a netlink socket, which the filter refuses
    names = [str(exc)]
except AttributeError:  # no interface list to ask for at all (WASI)
    names = []
report(any(n not in ("lo", "[Errno 97] Address family not supported by protocol") for n in names), names)
""",
    ),
    # --- writes outside the scratch directory ------------------------------------------------------------------
    Case(
        "write_root_fs",
        """
results = [fails(open, p, "w") for p in ("/etc/evil", "/usr/evil", "/evil", "/root/evil", "/dev/evil")]
report(not all(ok for ok, _ in results), results)
""",
    ),
    Case(
        "write_host_tmp",
        """
ok, detail = fails(lambda: open(CTX["marker_dir"] + "/written", "w").write("x"))
report(not ok, detail)
""",
        host_check="no_marker",
    ),
    Case(
        "symlink_escape",
        """
# A backend may refuse the links themselves (WASI: no absolute targets); else writing through them must fail.
no_link, d1 = fails(os.symlink, CTX["marker_dir"] + "/via-symlink", "link")
no_passwd_link, d2 = fails(os.symlink, "/etc/passwd", "passwd-link")
ok1, d1 = (True, d1) if no_link else fails(lambda: open("link", "w").write("x"))
ok2, d2 = (True, d2) if no_passwd_link else fails(lambda: open("passwd-link", "a").write("evil::0:0::/:/bin/sh\\n"))
report(not (ok1 and ok2), [d1, d2])
""",
        host_check="no_marker",
    ),
    Case(
        "hardlink_escape",
        """
results = [fails(os.link, src, "hard") for src in ("/etc/passwd", "/usr/bin/python3", sys.executable)]
report(not all(ok for ok, _ in results), results)
""",
    ),
    Case(
        "rename_escape",
        """
open("payload", "w").write("x")
results = [fails(os.rename, "payload", dst) for dst in ("/usr/payload", "/etc/payload", CTX["marker_dir"] + "/renamed")]
results.append(fails(os.rename, "/etc/hosts", "stolen-hosts"))
report(not all(ok for ok, _ in results), results)
""",
        host_check="no_marker",
    ),
    Case(
        "write_site_packages",
        """
import json as target
path = os.path.dirname(target.__file__) + "/evil.py"
sp = [p for p in sys.path if p.endswith("site-packages")]
results = [fails(open, path, "w")] + [fails(open, p + "/evil.pth", "w") for p in sp]
report(not all(ok for ok, _ in results), results)
""",
    ),
    Case(
        "chmod_chown",
        """
def chmod_usr_bin():
    os.chmod("/usr/bin", 0o777)
    if os.stat("/usr/bin").st_mode & 0o777 != 0o777:  # WASI's chmod does nothing and says it worked
        raise OSError("chmod had no effect")
results = [fails(chmod_usr_bin), fails(lambda: os.chown("/etc/passwd", os.getuid(), -1))]
report(not all(ok for ok, _ in results), results)
""",
    ),
    # --- secrets -------------------------------------------------------------------------------------------------
    Case(
        "environment_secret",
        """
leak = [k for k, v in os.environ.items() if "GODEL_TEST_SECRET" in k or CTX["secret"] in v]
try:
    leak += ["proc1"] if CTX["secret"] in open("/proc/1/environ").read() else []
except OSError:
    pass
report(bool(leak), [leak, sorted(os.environ)])
""",
    ),
    Case(
        "home_directory",
        """
found = []
for path in ("/root/.bashrc", "/root/.ssh", "/root/.netrc", "/root/.config", "/home"):
    if os.path.exists(path):
        found.append(path)
listing = os.listdir("/root") if os.path.isdir("/root") else []
report(bool(found) or listing not in ([], [".pyenv"]), [found, listing])
""",
    ),
    Case(
        "project_directory",
        """
found = [p for p in (CTX["project"] + "/pyproject.toml", CTX["project"] + "/src", CTX["project"] + "/.git",
                     CTX["secret_file"]) if os.path.exists(p)]
report(bool(found), found)
""",
    ),
    Case(
        "etc_shadow",
        """
results = [fails(lambda p=p: open(p).read()) for p in ("/etc/shadow", "/etc/gshadow", "/etc/sudoers")]
report(not all(ok for ok, _ in results), results)
""",
    ),
    Case(
        "host_processes",
        """
pids = [p for p in os.listdir("/proc") if p.isdigit()] if os.path.isdir("/proc") else []
report(any(int(p) > 50 for p in pids) or len(pids) > 3, pids)
""",
    ),
    Case(
        "sysfs_and_kernel",
        """
found = [p for p in ("/sys/fs/cgroup", "/proc/sys/kernel", "/proc/kcore", "/boot", "/dev/sda", "/dev/vda",
                     "/dev/mem", "/dev/kmsg") if os.path.exists(p)]
report(bool(found), found)
""",
    ),
    # --- processes, memory, CPU, time, output, disk, descriptors -----------------------------------------------
    Case(
        "fork_bomb",
        """
needs_fork()
children = 0
try:
    while True:
        if os.fork() == 0:
            time.sleep(30)
            os._exit(0)
        children += 1
except OSError as exc:
    report(children > 40, "stopped after %d children: %s" % (children, exc))
""",
        limits=Limits(wall_seconds=20.0, max_processes=16),
    ),
    Case(
        "thread_bomb",
        """
import threading
n = 0
try:
    while True:
        threading.Thread(target=time.sleep, args=(30,), daemon=True).start()
        n += 1
except (RuntimeError, OSError) as exc:
    report(n > 40, "stopped after %d threads: %s" % (n, exc))
os._exit(0)
""",
        limits=Limits(wall_seconds=20.0, max_processes=16),
    ),
    Case(
        "memory_bomb",
        """
blocks = []
while True:
    blocks.append(bytearray(16 * 1024 * 1024))
""",
        limits=Limits(wall_seconds=20.0, memory_mb=128),
        terminations=frozenset({"memory_limit"}),
    ),
    Case(
        "memory_bomb_children",
        """
if not hasattr(os, "fork"):
    # No processes to spread the memory over: the same amount in this one.
    data = bytearray(4 * 90 * 1024 * 1024)
    for j in range(0, len(data), 4096):
        data[j] = 1
    report(True, "allocated %d MB" % (len(data) >> 20))
    os._exit(0)
kids = []
for i in range(4):
    pid = os.fork()
    if pid == 0:
        data = bytearray(90 * 1024 * 1024)
        for j in range(0, len(data), 4096):
            data[j] = 1
        time.sleep(5)
        os._exit(0)
    kids.append(pid)
statuses = [os.waitpid(p, 0)[1] for p in kids]
killed = [s for s in statuses if os.WIFSIGNALED(s)]
report(not killed, "children killed: %d of 4" % len(killed))
os._exit(9 if killed else 0)
""",
        limits=Limits(wall_seconds=20.0, memory_mb=200),
        terminations=frozenset({"memory_limit"}),
        slow=True,
    ),
    Case(
        "cpu_spin_ignoring_signals",
        """
import signal
for sig in ("SIGXCPU", "SIGTERM", "SIGINT", "SIGHUP"):
    fails(lambda: signal.signal(getattr(signal, sig), signal.SIG_IGN))  # WASI has no signals to ignore
while True:
    pass
""",
        limits=Limits(wall_seconds=20.0, cpu_seconds=1.0),
        terminations=frozenset({"cpu_limit"}),
        slow=True,
    ),
    Case(
        "sleep_past_wall_time",
        "time.sleep(3600)\n",
        limits=Limits(wall_seconds=1.0),
        terminations=frozenset({"timeout"}),
        slow=True,
    ),
    Case(
        "output_flood",
        """
chunk = "x" * 65536
while True:
    sys.stdout.write(chunk)
""",
        limits=Limits(wall_seconds=20.0, output_bytes=200_000),
        terminations=frozenset({"output_limit"}),
    ),
    Case(
        "result_flood",
        """
while True:
    os.write(3, b"y" * 65536)
""",
        limits=Limits(wall_seconds=20.0, result_bytes=100_000),
        terminations=frozenset({"output_limit"}),
    ),
    Case(
        "disk_fill",
        """
written = 0
try:
    with open("big", "wb") as fh:
        while True:
            fh.write(b"z" * (1 << 20))
            fh.flush()
            written += 1 << 20
except OSError as exc:
    report(written > 8 * (1 << 20), "stopped at %d bytes: %s" % (written, exc))
""",
        limits=Limits(wall_seconds=20.0, disk_mb=8),
        killed_for="disk limit",
    ),
    Case(
        "tmp_fill",
        """
written = 0
try:
    with open("/tmp/big", "wb") as fh:
        while True:
            fh.write(b"z" * (1 << 20))
            fh.flush()
            written += 1 << 20
except OSError as exc:
    report(written > 8 * (1 << 20), "stopped at %d bytes: %s" % (written, exc))
""",
        limits=Limits(wall_seconds=20.0, disk_mb=8),
        killed_for="disk limit",
    ),
    Case(
        "inode_fill",
        """
n = 0
try:
    os.mkdir("many")
    while True:
        open("many/%d" % n, "w").close()
        n += 1
except OSError as exc:
    report(n > 100000, "stopped at %d files: %s" % (n, exc))
""",
        limits=Limits(wall_seconds=30.0, disk_mb=4),
        killed_for="disk limit",
        slow=True,  # on wasm: the guest makes ~700 files/s until the scratch walk sees too many
    ),
    Case(
        "fd_exhaustion",
        """
fds = []
try:
    while True:
        fds.append(os.open("/dev/null", os.O_RDONLY))
except OSError as exc:
    report(len(fds) > 5000, "stopped at %d descriptors: %s" % (len(fds), exc))
""",
    ),
    Case(
        "raise_rlimits",
        """
try:
    import resource
except ImportError:  # WASI: no rlimits to raise
    resource = None
results = []
for res in () if resource is None else (resource.RLIMIT_CPU, resource.RLIMIT_NOFILE, resource.RLIMIT_NPROC, resource.RLIMIT_FSIZE):
    soft, hard = resource.getrlimit(res)
    results.append(fails(resource.setrlimit, res, (resource.RLIM_INFINITY, resource.RLIM_INFINITY)))
ok, detail = fails(lambda: open("/proc/self/oom_score_adj", "w").write("-1000"))
results.append((ok, detail))
report(not all(ok for ok, _ in results), results)
""",
    ),
    Case(
        "daemonize",
        """
needs_fork()
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        for fd in (0, 1, 2, 3):
            os.close(fd)
        while True:
            time.sleep(0.1)
    os._exit(0)
time.sleep(0.2)
report(False, "parent leaves, daemon keeps running")
""",
    ),
    Case(
        "kill_everything",
        """
import signal
ok, detail = fails(lambda: os.kill(-1, signal.SIGKILL))
ok2, detail2 = fails(lambda: os.kill(CTX["sentinel"], signal.SIGKILL))
report(False, [detail, detail2])
""",
        terminations=frozenset({"ok", "error"}),
        host_check="sentinel_alive",
    ),
    Case(
        "signal_server",
        """
import signal
results = [fails(lambda pid=pid: os.kill(pid, signal.SIGKILL)) for pid in CTX["server_pids"]]
report(not all(ok for ok, _ in results), results)
""",
        host_check="servers_alive",
    ),
    Case(
        "signal_engine",
        """
import signal
# Jobs are the engine's own children (it reaps them): the engine must still be out of sight and out of reach. The
# job's parent is outside its pid namespace (getppid() is 0) or the namespace's own init (1), which the job cannot
# signal either.
ppid = os.getppid() if hasattr(os, "getppid") else 0
sigs = [getattr(signal, s) if isinstance(s, str) else s for s in (0, "SIGCONT", "SIGKILL")]
results = [fails(lambda sig=sig: os.kill(CTX["engine"], sig)) for sig in sigs[:2]]
results.append(fails(lambda: os.pidfd_open(CTX["engine"])))
if ppid == 1 and hasattr(os, "kill"):
    results += [fails(lambda sig=sig: os.kill(1, sig)) for sig in sigs[1:]]
report(ppid not in (0, 1) or not all(ok for ok, _ in results), [ppid, results])
""",
    ),
    # --- privileged kernel surface ----------------------------------------------------------------------------
    Case(
        "setuid_root",
        """
results = [fails(lambda: os.setuid(0)), fails(lambda: os.setgid(0)), fails(lambda: os.setgroups([0])),
           fails(lambda: os.setresuid(0, 0, 0))]
root = hasattr(os, "getuid") and (os.getuid() == 0 or os.geteuid() == 0)
report(not all(ok for ok, _ in results) or root, results)
""",
    ),
    Case(
        "mount_calls",
        """
needs_libc()
results = [
    (libc.mount(b"tmpfs", b"/tmp", b"tmpfs", 0, None) != 0, "mount"),
    (libc.mount(None, b"/", None, 32 | 1, None) != 0, "remount"),
    (libc.umount2(b"/usr", 2) != 0, "umount"),
    sys_fails(155, b".", b"."),
    (libc.chroot(b"/tmp") != 0, "chroot"),
]
report(not all(ok for ok, _ in results), results)
""",
    ),
    Case(
        "unshare_and_setns",
        """
needs_libc()
flags = {"user": 0x10000000, "net": 0x40000000, "mount": 0x20000, "pid": 0x20000000, "cgroup": 0x02000000}
results = [(libc.unshare(f) != 0, name) for name, f in flags.items()]
results.append(sys_fails(56, ctypes.c_ulong(0x10000000 | 17), None, None, None, None))  # clone(CLONE_NEWUSER)
results.append(sys_fails(308, 0, 0))  # setns
report(not all(ok for ok, _ in results), results)
""",
    ),
    Case(
        "ptrace",
        """
needs_libc()
results = [sys_fails(101, 0, 0, 0, 0), sys_fails(101, 16, 1, 0, 0)]  # TRACEME, ATTACH to pid 1
results.append(sys_fails(310, 1, None, 0, None, 0, 0))  # process_vm_readv
report(not all(ok for ok, _ in results), results)
""",
    ),
    Case(
        "bpf_io_uring_keyctl_perf",
        """
needs_libc()
params = ctypes.create_string_buffer(256)
results = {
    "bpf": sys_fails(321, 0, None, 0),
    "io_uring_setup": sys_fails(425, 8, params),
    "keyctl": sys_fails(250, 0, -1, 0, 0, 0),
    "add_key": sys_fails(248, b"user", b"k", b"v", 1, -2),
    "perf_event_open": sys_fails(298, params, 0, -1, -1, 0),
    "userfaultfd": sys_fails(323, 0),
}
report(not all(ok for ok, _ in results.values()), results)
""",
    ),
    Case(
        "module_loading",
        """
needs_libc()
results = {
    "init_module": sys_fails(175, None, 0, b""),
    "finit_module": sys_fails(313, 0, b"", 0),
    "delete_module": sys_fails(176, b"ext4", 0),
    "kexec_load": sys_fails(246, 0, 0, None, 0),
    "reboot": sys_fails(169, 0xfee1dead, 672274793, 0x4321FEDC, None),
}
report(not all(ok for ok, _ in results.values()), results)
""",
    ),
    Case(
        "new_mount_api_and_handles",
        """
needs_libc()
results = {
    "fsopen": sys_fails(430, b"tmpfs", 0),
    "open_tree": sys_fails(428, -100, b"/", 0),
    "open_by_handle_at": sys_fails(304, -100, None, 0),
    "clone3": sys_fails(435, None, 0),
}
report(not all(ok for ok, _ in results.values()), results)
""",
    ),
    # --- bad input ------------------------------------------------------------------------------------------
    Case(
        "invalid_python",
        "def broken(:\n    pass\n",
        terminations=frozenset({"error"}),
    ),
    Case(
        "never_returns",
        "while True:\n    time.sleep(0.01)\n",
        limits=Limits(wall_seconds=1.0),
        terminations=frozenset({"timeout"}),
        slow=True,
    ),
    Case(
        "kills_own_interpreter",
        """
import signal
os.kill(os.getpid(), signal.SIGKILL)
os.abort()
""",
        terminations=frozenset({"error"}),
    ),
    Case(
        "segfault",
        "ctypes.string_at(1)\n",
        terminations=frozenset({"error"}),
    ),
    Case(
        "exits_nonzero_with_forged_result",
        """
report(False, "forged")
os._exit(3)
""",
        terminations=frozenset({"error"}),
    ),
]
