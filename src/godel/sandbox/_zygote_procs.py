"""The host's handles on zygote processes: the thread that starts servers, prepared children, reaping.

The children of every slot are this process's own (the server clones them with CLONE_PARENT), so the host reaps
them itself; nothing else in the process may (see :class:`~godel.sandbox.ZygoteSandbox`).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import queue
import signal
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar, cast

__all__ = ["Ready", "Spawner", "pin_to_this_cpu", "read_all", "read_int", "reap", "spawner"]


@dataclass
class Ready:
    """A prepared child waiting for its job: our child (CLONE_PARENT), so we reap it whatever happens to it."""

    cid: int
    pid: int
    job: socket.socket
    out: int
    err: int
    res: int
    report: int
    pidfd: int
    init: int  # the pid namespace's PID 1: the server spawned it (its child); killing it ends the namespace
    init_pidfd: int

    def end(self) -> None:
        """Kill the child's init, which ends everything in the pid namespace (the child too)."""
        with contextlib.suppress(OSError):
            signal.pidfd_send_signal(self.init_pidfd, signal.SIGKILL)

    def discard(self) -> None:
        """Kill and reap an unused child (it never ran a job)."""
        self.job.close()
        for fd in (self.out, self.err, self.res, self.report):
            with contextlib.suppress(OSError):
                os.close(fd)
        self.end()
        with contextlib.suppress(OSError):
            signal.pidfd_send_signal(self.pidfd, signal.SIGKILL)
        reap(self.pid)
        for fd in (self.pidfd, self.init_pidfd):
            with contextlib.suppress(OSError):
                os.close(fd)


def read_all(fd: int) -> bytes:
    """What is left in a pipe whose writers are gone; closes it."""
    parts = []
    try:
        while chunk := os.read(fd, 1 << 16):
            parts.append(chunk)
    except OSError:
        pass
    finally:
        os.close(fd)
    return b"".join(parts)


def reap(pid: int) -> tuple[int, Any] | None:
    """wait4 our child: (exit code, rusage), or None if it is not ours to reap (already reaped)."""
    while True:
        try:
            _, status, usage = os.wait4(pid, 0)
        except InterruptedError:
            continue
        except ChildProcessError:
            return None
        return os.waitstatus_to_exitcode(status), usage


_T = TypeVar("_T")


class Spawner:
    """One long-lived thread that starts every sandbox server.

    The jobs are our children (CLONE_PARENT) and die with their parent through PR_SET_PDEATHSIG, but the kernel's
    parent is a thread: the signal fires when the thread that started their server ends. Servers started from a
    thread that lives as long as the process make the jobs die with the engine, and only with it.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pid = 0
        self._requests: queue.SimpleQueue[tuple[Callable[[], Any], queue.SimpleQueue[Any]]] = (
            queue.SimpleQueue()
        )

    def call(self, fn: Callable[[], _T]) -> _T:
        with self._lock:
            if self._pid != os.getpid():  # first use, or a forked copy of the engine without the thread
                self._requests = queue.SimpleQueue()
                threading.Thread(
                    target=self._serve, args=(self._requests,), name="godel-spawner", daemon=True
                ).start()
                self._pid = os.getpid()
            requests = self._requests
        answer: queue.SimpleQueue[tuple[bool, Any]] = queue.SimpleQueue()
        requests.put((fn, answer))
        ok, value = answer.get()
        if not ok:
            raise value
        return cast(_T, value)

    @staticmethod
    def _serve(requests: queue.SimpleQueue[tuple[Callable[[], Any], queue.SimpleQueue[Any]]]) -> None:
        while True:
            fn, answer = requests.get()
            try:
                answer.put((True, fn()))
            except BaseException as exc:
                answer.put((False, exc))


spawner = Spawner()


_libc = ctypes.CDLL(None, use_errno=True)


def pin_to_this_cpu(pid: int) -> None:
    """Let a waiting child wake on the CPU this thread runs on.

    The thread is about to block until the job ends, so the child runs here at once; waking it on another, idle
    CPU costs a cross-CPU wake-up, which on a virtual machine with halted vCPUs was 0.3-0.5 ms, more than the rest
    of the job start. The child widens its affinity again as soon as it has the job.
    """
    cpu = _libc.sched_getcpu()
    if cpu >= 0:
        with contextlib.suppress(OSError):
            os.sched_setaffinity(pid, (cpu,))


def read_int(fd: int) -> int | None:
    try:
        text = os.pread(fd, 64, 0).decode().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None
