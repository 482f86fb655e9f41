"""The zygote backend's contract: files, argv, cwd, result channel, output, exit status, limits, cleanup."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest

from godel.errors import SandboxError
from godel.sandbox import Job, Limits, Sandbox, ZygoteSandbox
from godel.sandbox._cgroup import clean_stale, detect
from tests.sandbox.conftest import assert_no_leftovers


def test_runs_job_as_main_in_scratch(box: ZygoteSandbox) -> None:
    code = """
import json, os, sys
import helper
doc = {"name": __name__, "cwd": os.getcwd(), "argv": sys.argv[1:], "data": open("data/in.txt").read(),
       "helper": helper.VALUE, "uid": os.getuid(), "pid": os.getpid(), "env": sorted(os.environ),
       "writable_tmp": open("/tmp/x", "w").write("y")}
print("hello out")
print("hello err", file=sys.stderr)
os.write(3, json.dumps(doc).encode())
"""
    res = box.run(
        Job(code=code, files={"data/in.txt": b"payload", "helper.py": b"VALUE = 7\n"}, argv=("a", "b"))
    )
    assert res.ok, res.stderr
    doc = json.loads(res.result or b"")
    assert doc["name"] == "__main__"
    assert doc["argv"] == ["a", "b"]
    assert doc["data"] == "payload" and doc["helper"] == 7
    assert doc["cwd"] == "/box/work" and doc["pid"] == 1
    assert doc["uid"] in box.uids
    assert "GODEL_TEST_SECRET" not in doc["env"]
    assert res.stdout == "hello out\n" and res.stderr == "hello err\n"
    assert res.backend == box.name and res.isolation["contained"] is True
    assert res.wall_seconds > 0 and res.peak_memory_mb > 0


def test_site_packages_are_importable(box: ZygoteSandbox) -> None:
    res = box.run(Job(code="import numpy, os\nos.write(3, str(numpy.arange(4).sum()).encode())"))
    assert res.ok, res.stderr
    assert res.result == b"6"


@pytest.mark.parametrize(
    ("code", "exit_code", "needle"),
    [
        ("import sys\nsys.exit(4)", 4, "exit code 4"),
        ("raise ValueError('boom')", 1, "ValueError: boom"),
        ("import sys\nsys.exit('bye')", 1, "bye"),
        ("def f(:\n", 1, "SyntaxError"),
    ],
)
def test_failures_carry_a_reason(zygote: ZygoteSandbox, code: str, exit_code: int, needle: str) -> None:
    res = zygote.run(Job(code=code))
    assert res.termination == "error"
    assert res.exit_code == exit_code
    assert needle in res.reason
    assert_no_leftovers(zygote)


def test_exit_zero_and_no_result(zygote: ZygoteSandbox) -> None:
    res = zygote.run(Job(code="import sys\nsys.exit(0)"))
    assert res.ok and res.result is None and res.exit_code == 0


def test_atexit_and_threads_finish(zygote: ZygoteSandbox) -> None:
    code = """
import atexit, os, threading, time
atexit.register(lambda: os.write(3, b"atexit;"))
t = threading.Thread(target=lambda: (time.sleep(0.1), os.write(3, b"thread;")))
t.start()
"""
    res = zygote.run(Job(code=code))
    assert res.ok
    assert res.result == b"thread;atexit;"


def test_job_files_cannot_escape(zygote: ZygoteSandbox) -> None:
    res = zygote.run(Job(code="pass", files={"../escape.txt": b"x"}))
    assert res.termination == "error"
    assert "escapes" in res.reason


def test_job_files_larger_than_disk(zygote: ZygoteSandbox) -> None:
    res = zygote.run(Job(code="pass", files={"big": b"x" * (2 * 1024 * 1024)}, limits=Limits(disk_mb=1)))
    assert res.termination == "error"
    assert "disk limit" in res.reason


def test_huge_source(zygote: ZygoteSandbox) -> None:
    code = "x = 0\n" + "x += 1\n" * 200_000 + "import os\nos.write(3, str(x).encode())\n"
    res = zygote.run(Job(code=code, limits=Limits(wall_seconds=60)))
    assert res.ok, res.reason
    assert res.result == b"200000"


def test_parallel_runs_from_threads(zygote: ZygoteSandbox) -> None:
    results: dict[int, bytes | None] = {}

    def work(i: int) -> None:
        res = zygote.run(Job(code=f"import os, time\ntime.sleep(0.05)\nos.write(3, b'{i}')"))
        results[i] = res.result

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == {i: str(i).encode() for i in range(8)}


def test_satisfies_protocol(zygote: ZygoteSandbox) -> None:
    assert isinstance(zygote, Sandbox)
    assert zygote.trusted is False
    assert zygote.name == "zygote"


def test_close_removes_cgroups_and_processes() -> None:
    box = ZygoteSandbox(slots=1)
    groups = [s.cgroup for s in box._slots if s.cgroup is not None]
    servers = box.server_pids
    assert box.run(Job(code="pass")).ok
    box.close()
    for group in groups:
        assert not group.memory.exists() and not group.pids.exists()
    for pid in servers:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    assert_no_leftovers(box)
    with pytest.raises(SandboxError):
        box.run(Job(code="pass"))


def test_stale_cgroups_are_removed() -> None:
    support = detect()
    if not support.usable:
        pytest.skip("no writable memory+pids cgroup on this machine")
    assert support.memory is not None and support.pids is not None
    support.memory.mkdir(exist_ok=True)
    dead = 2**22 + 12345  # above pid_max's default, so no live process has it
    stale = Path(support.memory) / f"{dead}-0-abcdef"
    stale.mkdir()
    assert stale.name in clean_stale(support)
    assert not stale.exists()


def test_bad_mode() -> None:
    with pytest.raises(SandboxError):
        ZygoteSandbox(mode="spawn")  # type: ignore[arg-type]
