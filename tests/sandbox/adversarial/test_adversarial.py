"""Containment checks only the zygote's fork mode can have: the adversarial cases themselves run on every backend in
``test_conformance.py`` (``godel.sandbox.testing``)."""

from __future__ import annotations

import json
import os
import signal
import uuid
from collections.abc import Iterator

import pytest

from godel.sandbox import Job, SandboxResult, ZygoteSandbox
from godel.sandbox.testing import CASES, Host, make_host, run_case
from tests.sandbox.conftest import assert_no_leftovers


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[Host]:
    with make_host(tmp_path_factory.mktemp("host"), request.config.rootpath) as host:
        yield host


@pytest.mark.slow
def test_cpu_limit_reports_cpu_time(zygote: ZygoteSandbox, host: Host) -> None:
    case = next(c for c in CASES if c.name == "cpu_spin_ignoring_signals")
    res = run_case(zygote, host, case)
    assert res.termination == "cpu_limit"
    assert 0.9 <= res.cpu_seconds <= 3.0


@pytest.mark.slow
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


@pytest.mark.slow
def test_server_killed_mid_run() -> None:
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
