"""``zygote`` and ``exec``: a fork-server per worker slot that runs each job in fresh namespaces.

This module is the pool: :class:`ZygoteSandbox` checks what the machine offers, decides what every slot shares
(the directories of the private root, the jobs' ``sys.path``, Landlock, seccomp, cgroups, uids) and hands each job
to an idle slot. One slot from the host's side is :mod:`godel.sandbox._zygote_slot` (its server, its prepared
children, the supervision of a job, how the job ended: :mod:`~godel.sandbox._zygote_result`); inside, the server is
:mod:`godel.sandbox._zygote_server` and each sandboxed child :mod:`godel.sandbox._zygote_child`.
"""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import sys
import threading
import weakref
from pathlib import Path
from typing import Any, Literal

import godel.sandbox._cgroup as _cgroup
import godel.sandbox._linux as _linux
from godel.errors import SandboxError
from godel.sandbox._base import Job, SandboxResult
from godel.sandbox._zygote_slot import Slot, SlotSettings

__all__ = ["DEFAULT_PRELOAD", "ZygoteSandbox", "sandbox_paths"]

DEFAULT_PRELOAD = (
    "json", "math", "random", "re", "collections", "itertools", "functools", "dataclasses", "typing",
    "importlib.util", "traceback", "numbers", "statistics", "ast", "heapq", "bisect", "string", "textwrap",
    "fractions", "decimal", "copy", "enum", "time", "datetime", "resource", "linecache", "atexit", "threading",
)  # fmt: skip
_UID_BASE = 2_000_000_000
_UIDS_PER_PROCESS = 64
_uids_lock = threading.Lock()
_uids_held: set[int] = set()  # uids of this process's open sandboxes' slots


def _take_uids(n: int) -> list[int]:
    """``n`` uids no open sandbox of this process uses: a slot's uid names its children, caps its processes
    (RLIMIT_NPROC) and finds what its jobs left behind, so two sandboxes must never share one."""
    base = _UID_BASE + (os.getpid() % 1_000_000) * _UIDS_PER_PROCESS
    with _uids_lock:
        free = [u for u in range(base, base + _UIDS_PER_PROCESS) if u not in _uids_held][:n]
        if len(free) < n:
            raise SandboxError(
                f"this process already runs {len(_uids_held)} zygote slots, the most it may have is "
                f"{_UIDS_PER_PROCESS}",
                hint="close sandboxes that are no longer used, or run fewer slots",
            )
        _uids_held.update(free)
    return free


def _release_uids(uids: list[int]) -> None:
    with _uids_lock:
        _uids_held.difference_update(uids)


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
        support = _cgroup.detect() if cgroups else _cgroup.CgroupSupport(None, None, None, "disabled")
        if support.usable:
            _cgroup.clean_stale(support)
        abi = _linux.landlock_abi() if landlock else 0
        filters = bool(seccomp and _linux.syscall_numbers() is not None)
        binds, sys_path = sandbox_paths()
        self.isolation: dict[str, Any] = {
            "contained": True, "backend": self.name, "mode": mode,
            "namespaces": ["pid", "mount", "ipc", "uts", "net (shared, empty)"], "private_root": True,
            "read_only_root": True, "non_root_uid": True, "capabilities": "none", "no_new_privs": True,
            "landlock_abi": abi, "seccomp": filters,
            "cgroup": f"v{support.version}" if support.usable else None,
            "memory_limit": "cgroup (all processes)" if support.usable else "rlimit (per process)",
            "process_limit": "cgroup" if support.usable else "rlimit (per uid)",
            "disk_limit": "tmpfs", "rlimits": True, "kill": "pid namespace",
            "shares_memory_with_server": mode == "fork",
        }  # fmt: skip
        settings = SlotSettings(
            name=self.name, mode=mode, preload=preload if mode == "fork" else (), proc=proc, ready_children=2,
            cgroups=support, landlock_abi=abi, seccomp=filters, binds=binds, sys_path=sys_path,
            root_mountpoint=_root_mountpoint(binds), isolation=self.isolation,
        )  # fmt: skip
        self._slots = [Slot(settings, i, uid) for i, uid in enumerate(_take_uids(slots))]
        self._idle: queue.SimpleQueue[Slot] = queue.SimpleQueue()
        self._closed = False
        self._lock = threading.Lock()
        errors: list[BaseException] = []

        def start(slot: Slot) -> None:
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


def _close_slots(slots: list[Slot]) -> None:
    for slot in slots:
        with contextlib.suppress(Exception):
            slot.stop()
    _release_uids([slot.uid for slot in slots])
