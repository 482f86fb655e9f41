"""Each adversarial program must be contained, and no process it started may survive its job."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from godel.sandbox import Job, SandboxResult, ZygoteSandbox
from tests.sandbox.adversarial.cases import CASES, PRELUDE, Case
from tests.sandbox.conftest import assert_no_leftovers

PROJECT = Path(__file__).resolve().parents[3]


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
    extra: dict[str, object] = field(default_factory=dict)

    def context(self, box: ZygoteSandbox) -> dict[str, object]:
        return {
            "tcp4": self.tcp4.getsockname()[1],
            "tcp6": self.tcp6.getsockname()[1],
            "udp": self.udp.getsockname()[1],
            "unix": self.unix_path,
            "abstract": self.abstract_name,
            "marker_dir": str(self.marker_dir),
            "secret": self.secret,
            "secret_file": str(self.secret_file),
            "project": str(PROJECT),
            "sentinel": self.sentinel.pid,
            "server_pids": box.server_pids,
            "engine": os.getpid(),
        }


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Host]:
    tmp = tmp_path_factory.mktemp("host")
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
    yield Host(
        tcp4, tcp6, udp, unix, abstract, unix_path, abstract_name, marker_dir, secret, secret_file, sentinel
    )
    sentinel.kill()
    sentinel.wait()
    os.environ.pop("GODEL_TEST_SECRET", None)
    for s in (tcp4, tcp6, udp, unix, abstract):
        s.close()


def _no_accept(sock: socket.socket) -> None:
    with pytest.raises(BlockingIOError):
        conn, _ = sock.accept()
        conn.close()


def _host_check(name: str, host: Host, box: ZygoteSandbox) -> None:
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


def run_case(box: ZygoteSandbox, host: Host, case: Case) -> SandboxResult:
    job = Job(
        code=PRELUDE + case.code, argv=(json.dumps(host.context(box)),), limits=case.limits, label=case.name
    )
    return box.run(job)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_contained(box: ZygoteSandbox, host: Host, case: Case) -> None:
    res = run_case(box, host, case)
    detail = f"{res.termination}: {res.reason}\nstdout: {res.stdout[-500:]}\nstderr: {res.stderr[-1500:]}"
    if case.terminations is None:
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
    assert_no_leftovers(box)
    # The slot still works after the attack.
    again = box.run(Job(code="import os; os.write(3, b'alive')"))
    assert again.ok and again.result == b"alive", again


def test_memory_bomb_reports_peak_within_limit(zygote: ZygoteSandbox, host: Host) -> None:
    case = next(c for c in CASES if c.name == "memory_bomb")
    res = run_case(zygote, host, case)
    assert res.termination == "memory_limit"
    assert res.peak_memory_mb <= case.limits.memory_mb + 1


def test_cpu_limit_reports_cpu_time(zygote: ZygoteSandbox, host: Host) -> None:
    case = next(c for c in CASES if c.name == "cpu_spin_ignoring_signals")
    res = run_case(zygote, host, case)
    assert res.termination == "cpu_limit"
    assert 0.9 <= res.cpu_seconds <= 3.0


def test_other_candidates_code_is_out_of_reach(zygote: ZygoteSandbox) -> None:
    """A job holding a secret runs in one slot; a job in the other slot looks for it in files and memory.

    In fork mode every job is a child of the same server, so the secret must never have passed through the
    server's memory either: the second job scans all of its own readable memory for it.
    """
    import hashlib
    import threading

    token = uuid.uuid4().hex
    marker = "CANDIDATE-A-SECRET-"
    digest = hashlib.sha256(token.encode()).hexdigest()
    holder = Job(
        code=f"import time\nSECRET = {marker + token!r}\nopen('secret.py', 'w').write(SECRET)\ntime.sleep(1.5)\n",
        files={"secret_data.txt": (marker + token).encode()},
        label="holder",
    )
    results: list[SandboxResult] = []
    t = threading.Thread(target=lambda: results.append(zygote.run(holder)))
    t.start()
    hunter_code = """
import ctypes, hashlib, json, os, time
time.sleep(0.3)
marker = "CANDIDATE-A-" + "SECRET-"
digest = DIGEST
found = []
for path in ("/box", "/tmp", "/proc"):
    for dirpath, dirs, files in os.walk(path):
        for name in files:
            try:
                data = open(os.path.join(dirpath, name), "rb").read(1 << 20)
            except OSError:
                continue
            if marker.encode() in data:
                found.append(os.path.join(dirpath, name))
hits = 0
with open("/proc/self/maps") as fh:
    regions = [line.split() for line in fh]
for fields in regions:
    lo, hi = (int(x, 16) for x in fields[0].split("-"))
    if "r" not in fields[1] or (len(fields) > 5 and fields[5].startswith("[v")):
        continue
    try:
        blob = ctypes.string_at(lo, hi - lo)
    except Exception:
        continue
    start = 0
    needle = marker.encode()
    while True:
        i = blob.find(needle, start)
        if i < 0:
            break
        if hashlib.sha256(blob[i + len(needle): i + len(needle) + 32]).hexdigest() == digest:
            hits += 1
        start = i + 1
os.write(3, json.dumps({"files": found, "memory_hits": hits}).encode())
""".replace("DIGEST", repr(digest))
    hunter = zygote.run(Job(code=hunter_code, label="hunter"))
    t.join()
    assert results and results[0].ok, results
    assert hunter.ok, hunter.stderr
    verdict = json.loads(hunter.result or b"{}")
    assert verdict == {"files": [], "memory_hits": 0}
    # And a later job in the holder's slot finds nothing either.
    later = zygote.run(Job(code=hunter_code, label="later"))
    assert json.loads(later.result or b"{}") == {"files": [], "memory_hits": 0}


def test_server_killed_mid_run(host: Host) -> None:
    from godel.errors import SandboxError

    box = ZygoteSandbox(slots=1, mode="fork")
    try:
        import threading

        errors: list[BaseException] = []

        def victim() -> None:
            try:
                box.run(Job(code="import os, time\nif os.fork() == 0:\n    time.sleep(60)\ntime.sleep(60)\n"))
            except BaseException as exc:
                errors.append(exc)

        t = threading.Thread(target=victim)
        t.start()
        import time

        time.sleep(1.0)
        (server,) = box.server_pids
        os.kill(server, signal.SIGKILL)
        t.join(timeout=20)
        assert not t.is_alive(), "the engine hung after the server died"
        assert errors and isinstance(errors[0], SandboxError), errors
        assert "died" in str(errors[0])
        assert_no_leftovers(box)
        res = box.run(Job(code="import os; os.write(3, b'back')"))
        assert res.ok and res.result == b"back"
        assert box.server_pids and box.server_pids[0] != server
    finally:
        box.close()
    assert_no_leftovers(box)
