"""Per-slot control groups: total memory and process count over everything a job starts.

cgroup v1 (separate ``memory`` and ``pids`` hierarchies) and v2 (one unified hierarchy) are both detected; the
machines this was built on offer only v1 for memory and pids, so v2 is the less exercised path. Each slot gets its
own group named ``godel/<pid>-<slot>-<nonce>``; groups of processes that no longer exist are removed on start.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["CgroupSupport", "SlotCgroup", "clean_stale", "create_slot_cgroup", "detect"]

_V1_ROOT = Path("/sys/fs/cgroup")
_PARENT = "godel"
_READ_ONLY = ("mem_events", "mem_usage", "pids_current")


@dataclass(frozen=True)
class CgroupSupport:
    version: int | None  # 1, 2 or None
    memory: Path | None  # directory under which slot groups for memory are created
    pids: Path | None
    detail: str = ""

    @property
    def usable(self) -> bool:
        return self.version is not None and self.memory is not None and self.pids is not None


def _mounts() -> list[tuple[str, str, str]]:
    out: list[tuple[str, str, str]] = []
    with contextlib.suppress(OSError), open("/proc/self/mountinfo") as fh:
        for line in fh:
            left, _, right = line.partition(" - ")
            fields = left.split()
            rest = right.split()
            if len(fields) >= 5 and len(rest) >= 3:
                out.append((fields[4], rest[0], rest[2]))  # mount point, fs type, super options
    return out


def _writable_dir(path: Path) -> bool:
    probe = path / f"{_PARENT}-probe-{os.getpid()}"
    try:
        probe.mkdir(exist_ok=True)
    except OSError:
        return False
    with contextlib.suppress(OSError):
        probe.rmdir()
    return True


def detect() -> CgroupSupport:
    """Which cgroup version can cap memory and processes for us here (v1 preferred where both exist)."""
    mem_v1 = pids_v1 = v2 = None
    for point, fstype, opts in _mounts():
        if fstype == "cgroup":
            ctrl = set(opts.split(","))
            if "memory" in ctrl:
                mem_v1 = Path(point)
            if "pids" in ctrl:
                pids_v1 = Path(point)
        elif fstype == "cgroup2" and v2 is None:
            v2 = Path(point)
    if mem_v1 and pids_v1 and _writable_dir(mem_v1) and _writable_dir(pids_v1):
        return CgroupSupport(
            1, mem_v1 / _PARENT, pids_v1 / _PARENT, f"v1 memory at {mem_v1}, pids at {pids_v1}"
        )
    if v2 is not None:
        try:
            controllers = set((v2 / "cgroup.controllers").read_text().split())
        except OSError:
            controllers = set()
        if {"memory", "pids"} <= controllers and _writable_dir(v2):
            return CgroupSupport(2, v2 / _PARENT, v2 / _PARENT, f"v2 at {v2}")
        detail = f"v2 at {v2} offers {sorted(controllers) or 'no controllers'} (memory and pids needed)"
        if mem_v1 or pids_v1:
            detail += "; v1 memory/pids not both writable"
        return CgroupSupport(None, None, None, detail)
    return CgroupSupport(None, None, None, "no writable memory and pids cgroup controllers")


def _kill_tasks(group: Path) -> None:
    """SIGKILL every process in ``group`` until it is empty (bounded wait; a fork bomb cannot outrun it)."""
    if not group.is_dir():
        return
    kill_file = group / "cgroup.kill"
    if kill_file.exists():
        with contextlib.suppress(OSError):
            kill_file.write_text("1")
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline:
        try:
            pids = [int(p) for p in (group / "cgroup.procs").read_text().split()]
        except OSError:
            return
        if not pids:
            return
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.005)


def _remove(group: Path) -> None:
    _kill_tasks(group)
    deadline = time.monotonic() + 5.0
    while group.is_dir():
        try:
            group.rmdir()
        except FileNotFoundError:
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.01)


@dataclass
class SlotCgroup:
    """The control files of one slot's group."""

    version: int
    memory: Path
    pids: Path
    files: dict[str, str] = field(default_factory=dict)

    def open_files(self) -> dict[str, int]:
        """Descriptors of the control files, opened here once: the server passes them to each child, and the host
        reads the peak and OOM count through the same open files (cgroup v2 resets memory.peak per open file)."""
        fds: dict[str, int] = {}
        try:
            for name, path in self.files.items():
                if name in _READ_ONLY:
                    flags = os.O_RDONLY
                elif name.endswith("procs"):
                    flags = os.O_WRONLY
                else:
                    flags = os.O_RDWR
                fds[name] = os.open(path, flags | os.O_CLOEXEC)
        except OSError:
            for fd in fds.values():
                os.close(fd)
            raise
        return fds

    def kill_all(self) -> None:
        _kill_tasks(self.memory)
        if self.pids != self.memory:
            _kill_tasks(self.pids)

    def remove(self) -> None:
        _remove(self.memory)
        if self.pids != self.memory:
            _remove(self.pids)


def _ensure_parent(support: CgroupSupport) -> None:
    assert support.memory is not None and support.pids is not None
    for parent in {support.memory, support.pids}:
        parent.mkdir(exist_ok=True)
    if support.version == 2:
        # Controllers must be enabled on every level above the leaf groups.
        for level in (support.memory.parent, support.memory):
            with contextlib.suppress(OSError):
                (level / "cgroup.subtree_control").write_text("+memory +pids")


def create_slot_cgroup(support: CgroupSupport, slot: int) -> SlotCgroup:
    """Create one slot's group (raises OSError when the hierarchy refuses)."""
    assert support.usable and support.memory is not None and support.pids is not None
    _ensure_parent(support)
    name = f"{os.getpid()}-{slot}-{os.urandom(3).hex()}"
    mem, pids = support.memory / name, support.pids / name
    mem.mkdir()
    if pids != mem:
        pids.mkdir()
    if support.version == 1:
        with contextlib.suppress(OSError):
            (mem / "memory.swappiness").write_text("0")
        files = {
            "mem_limit": str(mem / "memory.limit_in_bytes"),
            "mem_peak": str(mem / "memory.max_usage_in_bytes"),
            "mem_usage": str(mem / "memory.usage_in_bytes"),
            "mem_events": str(mem / "memory.oom_control"),
            "mem_procs": str(mem / "cgroup.procs"),
            "pids_max": str(pids / "pids.max"),
            "pids_current": str(pids / "pids.current"),
            "pids_procs": str(pids / "cgroup.procs"),
        }
    else:
        files = {
            "mem_limit": str(mem / "memory.max"),
            "mem_events": str(mem / "memory.events"),
            "mem_usage": str(mem / "memory.current"),
            "mem_procs": str(mem / "cgroup.procs"),
            "pids_max": str(pids / "pids.max"),
            "pids_current": str(pids / "pids.current"),
        }
        if (mem / "memory.peak").exists():
            files["mem_peak"] = str(mem / "memory.peak")
        if (mem / "memory.swap.max").exists():
            with contextlib.suppress(OSError):
                (mem / "memory.swap.max").write_text("0")
    return SlotCgroup(support.version or 1, mem, pids, files)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_stale(support: CgroupSupport) -> list[str]:
    """Remove slot groups left by godel processes that no longer run (killed runs). Returns their names."""
    removed: list[str] = []
    for parent in {p for p in (support.memory, support.pids) if p is not None}:
        if not parent.is_dir():
            continue
        for group in parent.iterdir():
            if not group.is_dir():
                continue
            owner = group.name.split("-", 1)[0]
            if owner.isdigit() and not _alive(int(owner)):
                with contextlib.suppress(OSError):
                    _remove(group)
                    removed.append(group.name)
    return removed
