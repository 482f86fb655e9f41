"""Containment: the adversarial cases against a backend that claims to contain its jobs (``trusted`` is False)."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Set
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import pytest

from godel.sandbox._base import Job, Sandbox, SandboxResult
from godel.sandbox.testing._cases import CASES, PRELUDE, Case
from godel.sandbox.testing._contract import SandboxConformance

__all__ = ["ContainedSandboxConformance", "Host", "make_host", "process_tree", "run_case"]


@dataclass
class Host:
    """Real listeners and secrets on the host that a candidate must not reach."""

    tcp4: socket.socket
    tcp6: socket.socket
    udp: socket.socket
    unix: socket.socket
    abstract: socket.socket
    unix_path: str
    abstract_name: str
    marker_dir: Path
    secret: str
    secret_file: Path
    sentinel: subprocess.Popen[bytes]
    project: Path

    def context(self, box: Sandbox) -> dict[str, object]:
        """What every case program gets as JSON in ``sys.argv[1]``."""
        return {
            "tcp4": self.tcp4.getsockname()[1],
            "tcp6": self.tcp6.getsockname()[1],
            "udp": self.udp.getsockname()[1],
            "unix": self.unix_path,
            "abstract": self.abstract_name,
            "marker_dir": str(self.marker_dir),
            "secret": self.secret,
            "secret_file": str(self.secret_file),
            "project": str(self.project),
            "sentinel": self.sentinel.pid,
            "server_pids": list(box.server_pids),
            "engine": os.getpid(),
        }


@contextlib.contextmanager
def make_host(tmp: Path, project: Path) -> Iterator[Host]:
    """Listeners, a marker directory, a secret (also in this process's environment) and a sentinel process, in
    ``tmp``; ``project`` is the checkout a job must not see."""
    tcp4 = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    tcp4.bind(("127.0.0.1", 0))
    tcp4.listen(8)
    tcp6 = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    tcp6.bind(("::1", 0))
    tcp6.listen(8)
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    unix_path = str(tmp / "host.sock")
    unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    unix.bind(unix_path)
    unix.listen(8)
    os.chmod(unix_path, 0o777)
    abstract_name = f"godel-test-{uuid.uuid4().hex}"
    abstract = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    abstract.bind("\0" + abstract_name)
    abstract.listen(8)
    for s in (tcp4, tcp6, udp, unix, abstract):
        s.setblocking(False)
    marker_dir = tmp / "markers"
    marker_dir.mkdir()
    marker_dir.chmod(0o777)
    secret = f"s3cr3t-{uuid.uuid4().hex}"
    secret_file = tmp / "secret.txt"
    secret_file.write_text(secret)
    os.environ["GODEL_TEST_SECRET"] = secret
    sentinel = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(3600)"])
    try:
        yield Host(
            tcp4, tcp6, udp, unix, abstract, unix_path, abstract_name, marker_dir, secret, secret_file,
            sentinel, project,
        )  # fmt: skip
    finally:
        sentinel.kill()
        sentinel.wait()
        os.environ.pop("GODEL_TEST_SECRET", None)
        for s in (tcp4, tcp6, udp, unix, abstract):
            s.close()


def _stat(pid: str) -> tuple[str, str, int] | None:
    """(name, state, parent pid) of a process, or None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            head, _, tail = fh.read().rpartition(b")")
    except OSError:
        return None
    fields = tail.split()
    return head.partition(b"(")[2].decode("utf-8", "replace"), fields[0].decode(), int(fields[1])


def process_tree(root: int) -> dict[int, tuple[int, str]]:
    """Live (not zombie) processes descended from ``root``: pid -> (parent pid, name)."""
    procs: dict[int, tuple[int, str, str]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (info := _stat(entry)) is not None:
            name, state, ppid = info
            procs[int(entry)] = (ppid, state, name)
    children: dict[int, list[int]] = {}
    for pid, (ppid, _, _) in procs.items():
        children.setdefault(ppid, []).append(pid)
    tree: dict[int, tuple[int, str]] = {}
    todo = list(children.get(root, []))
    while todo:
        pid = todo.pop()
        ppid, state, name = procs[pid]
        if state != "Z":
            tree[pid] = (ppid, name)
        todo += children.get(pid, [])
    return tree


def run_case(box: Sandbox, host: Host, case: Case) -> SandboxResult:
    """Run one adversarial case, with the host's context in its ``sys.argv[1]``."""
    job = Job(
        code=PRELUDE + case.code, argv=(json.dumps(host.context(box)),), limits=case.limits, label=case.name
    )
    return box.run(job)


class ContainedSandboxConformance(SandboxConformance):
    """The contract plus containment: isolation from the host and 51 hostile programs, each checked from inside
    (its own verdict) and from the host (listeners, marker files, a sentinel process, processes left behind).

    Subclasses define :meth:`make_sandbox` as for :class:`SandboxConformance`, and override
    :meth:`leftover_processes` when their jobs are processes that can leave this process's tree.
    """

    containment_cases: ClassVar[bool] = True

    @pytest.fixture(scope="class")
    @classmethod
    def host(cls, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[Host]:
        with make_host(tmp_path_factory.mktemp("host"), request.config.rootpath) as host:
            yield host

    @pytest.fixture(scope="class")
    @classmethod
    def box(cls, host: Host) -> Iterator[Sandbox]:
        # Built once the host's secret is in the environment, so a backend that passed it on would be caught.
        sandbox = cls.make_sandbox()
        try:
            yield sandbox
        finally:
            sandbox.close()

    def leftover_processes(self, box: Sandbox, before: Set[int]) -> list[tuple[int, str]]:
        """Processes a finished job left running (pid, name); ``before``: this process's tree as the job started.

        The default finds new processes in this process's tree outside the sandbox's servers. It cannot see a
        process that left the tree (a daemon re-parented to init), so a backend whose jobs can start processes
        overrides it with a check that can (the zygote: every live process of its slots' uids).
        """
        tree = process_tree(os.getpid())
        served = set(box.server_pids)

        def under_server(pid: int) -> bool:
            while pid in tree:
                if pid in served:
                    return True
                pid = tree[pid][0]
            return pid in served

        return [(pid, name) for pid, (_, name) in tree.items() if pid not in before and not under_server(pid)]

    def assert_no_leftovers(self, box: Sandbox, before: Set[int], timeout: float = 3.0) -> None:
        deadline = time.monotonic() + timeout
        while left := self.leftover_processes(box, before):
            if time.monotonic() > deadline:
                raise AssertionError(f"processes left behind by the job: {left}")
            time.sleep(0.02)

    # -- the tests -----------------------------------------------------------------------------------------------

    def test_declares_containment(self, box: Sandbox) -> None:
        assert box.trusted is False
        assert box.isolation["contained"] is True

    @pytest.mark.parametrize(
        "case", [pytest.param(c, id=c.name, marks=[pytest.mark.slow] if c.slow else []) for c in CASES]
    )
    def test_contained(self, box: Sandbox, host: Host, case: Case) -> None:
        before = set(process_tree(os.getpid()))
        res = run_case(box, host, case)
        detail = f"{res.termination}: {res.reason}\nstdout: {res.stdout[-500:]}\nstderr: {res.stderr[-1500:]}"
        if case.killed_for and res.termination == "error" and case.killed_for in res.reason:
            pass  # the sandbox ended the job for the limit the attack was after: contained
        elif case.terminations is None:
            assert res.termination == "ok", detail
            assert res.result is not None, detail
            verdict = json.loads(res.result)
            assert verdict["escaped"] is False, verdict["detail"]
        else:
            assert res.termination in case.terminations, detail
            assert res.termination == "ok" or res.reason, "a failed job must say why"
            if res.result:
                with contextlib.suppress(ValueError):
                    assert json.loads(res.result).get("escaped") is not True, res.result
        _host_check(case.host_check, host, box)
        self.assert_no_leftovers(box, before)
        # The slot still works after the attack.
        again = box.run(Job(code="import os; os.write(3, b'alive')"))
        assert again.ok and again.result == b"alive", again

    def test_memory_bomb_reports_peak_within_limit(self, box: Sandbox, host: Host) -> None:
        case = next(c for c in CASES if c.name == "memory_bomb")
        res = run_case(box, host, case)
        assert res.termination == "memory_limit"
        assert res.peak_memory_mb <= case.limits.memory_mb + 1


def _no_accept(sock: socket.socket) -> None:
    with pytest.raises(BlockingIOError):
        conn, _ = sock.accept()
        conn.close()


def _host_check(name: str, host: Host, box: Sandbox) -> None:
    if name == "no_tcp":
        _no_accept(host.tcp4)
        _no_accept(host.tcp6)
    elif name == "no_udp":
        with pytest.raises(BlockingIOError):
            host.udp.recv(100)
    elif name == "no_unix":
        _no_accept(host.unix)
    elif name == "no_abstract":
        _no_accept(host.abstract)
    elif name == "no_marker":
        assert list(host.marker_dir.iterdir()) == []
    elif name == "sentinel_alive":
        assert host.sentinel.poll() is None, "a host process was killed from inside the sandbox"
    elif name == "servers_alive":
        for pid in box.server_pids:
            os.kill(pid, 0)
    elif name:
        raise AssertionError(f"unknown host check {name}")
