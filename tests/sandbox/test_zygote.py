"""The zygote backend's contract: files, argv, cwd, result channel, output, exit status, limits, cleanup."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
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
    # PID 2: the namespace's PID 1 is the job's init, so the job's own signals end it as they would elsewhere.
    assert doc["cwd"] == "/box/work" and doc["pid"] == 2
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


def test_satisfies_protocol(zygote: ZygoteSandbox) -> None:
    assert isinstance(zygote, Sandbox)
    assert zygote.trusted is False
    assert zygote.name == "zygote"


def test_two_sandboxes_in_one_process_keep_apart(zygote: ZygoteSandbox) -> None:
    """Each slot has a uid of its own: closing one sandbox sweeps its own children, never another's."""
    servers = zygote.server_pids
    other = ZygoteSandbox(slots=2)
    try:
        assert not set(other.uids) & set(zygote.uids)
        assert other.run(Job(code="pass")).ok
    finally:
        other.close()
    for _ in range(8):
        res = zygote.run(Job(code="import os; os.write(3, b'ok')"))
        assert res.ok and res.result == b"ok", res.reason
    assert zygote.server_pids == servers  # no server lost its prepared children and had to be restarted


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


def _zombie_children() -> set[int]:
    """Our children that ended and were not reaped (the jobs are our children: we must reap every one)."""
    found: set[int] = set()
    me = os.getpid()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] == "Z" and int(fields[1]) == me:
            found.add(int(entry))
    return found


def test_every_job_and_unused_child_is_reaped() -> None:
    before = _zombie_children()
    box = ZygoteSandbox(slots=2)
    try:
        for code in (
            "pass",
            "raise SystemExit(3)",
            "import os; os.kill(os.getpid(), 9)",
            "import time; time.sleep(5)",
        ):
            box.run(Job(code=code, limits=Limits(wall_seconds=0.5)))
    finally:
        box.close()
    assert _zombie_children() - before == set()


def test_jobs_outlive_the_thread_that_built_the_sandbox() -> None:
    """A job's parent is a thread; the sandbox must not tie its jobs' lives to whichever thread built it."""
    built: list[ZygoteSandbox] = []
    t = threading.Thread(target=lambda: built.append(ZygoteSandbox(slots=2)))
    t.start()
    t.join()
    (box,) = built
    try:
        results = [box.run(Job(code="import os; os.write(3, b'ok')")) for _ in range(8)]
        assert [(r.termination, r.result) for r in results] == [("ok", b"ok")] * 8, [
            r.reason for r in results
        ]
    finally:
        box.close()


def test_disk_limit_follows_each_job(zygote: ZygoteSandbox) -> None:
    """Idle children mount their scratch at the last job's size; a job that asks for another size gets it."""
    code = "import os\nst = os.statvfs('.')\nos.write(3, str(st.f_blocks * st.f_frsize // 2**20).encode())"
    for disk in (64, 8, 8, 64, 3, 64):
        res = zygote.run(Job(code=code, limits=Limits(disk_mb=disk)))
        assert res.ok, res.reason
        assert res.result == str(disk).encode()


def test_job_may_use_every_cpu(zygote: ZygoteSandbox) -> None:
    """The host hands a job over on its own CPU; the job itself is not pinned there."""
    res = zygote.run(Job(code="import os; os.write(3, repr(sorted(os.sched_getaffinity(0))).encode())"))
    assert res.ok, res.reason
    assert res.result == repr(sorted(os.sched_getaffinity(0))).encode()


def test_job_keeps_its_parent_death_signal(box: ZygoteSandbox) -> None:
    """Dropping to the slot's uid clears PR_SET_PDEATHSIG; the job must have it again, so it dies with the engine."""
    code = (
        "import ctypes, os\nsig = ctypes.c_int(-1)\n"
        "ctypes.CDLL(None).prctl(2, ctypes.byref(sig), 0, 0, 0)\n"  # PR_GET_PDEATHSIG
        "os.write(3, str(sig.value).encode())\n"
    )
    res = box.run(Job(code=code))
    assert res.ok, res.reason
    assert res.result == b"9"  # SIGKILL


@pytest.mark.slow
def test_jobs_die_with_the_engine(tmp_path: Path) -> None:
    """SIGKILL of the engine process: its server and every job it was running end too."""
    import signal
    import subprocess
    import sys
    import time

    script = tmp_path / "engine.py"
    script.write_text(
        "import sys, threading\n"
        "from godel.sandbox import Job, Limits, ZygoteSandbox\n"
        "box = ZygoteSandbox(slots=2)\n"
        "print(' '.join(map(str, box.uids)), flush=True)\n"
        "job = Job(code='import os, time\\nif os.fork() == 0:\\n    time.sleep(120)\\ntime.sleep(120)',"
        " limits=Limits(wall_seconds=120))\n"
        "for _ in range(2):\n"
        "    threading.Thread(target=box.run, args=(job,)).start()\n"
        "threading.Event().wait()\n"
    )
    engine = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        assert engine.stdout is not None
        uids = [int(u) for u in engine.stdout.readline().split()]
        from tests.sandbox.conftest import live_processes

        deadline = time.monotonic() + 20
        while len(live_processes(uids)) < 4 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(live_processes(uids)) >= 4, live_processes(uids)
    finally:
        engine.send_signal(signal.SIGKILL)
        engine.wait()
    deadline = time.monotonic() + 5
    while live_processes(uids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert live_processes(uids) == []


def test_refuses_when_sigchld_is_ignored() -> None:
    import signal

    old = signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    try:
        with pytest.raises(SandboxError, match="SIGCHLD"):
            ZygoteSandbox(slots=1)
    finally:
        signal.signal(signal.SIGCHLD, old)


def test_jobs_run_at_normal_priority_and_the_server_idles(box: ZygoteSandbox) -> None:
    """Servers and waiting children run under SCHED_IDLE so refills never preempt a job; the job itself must not."""
    res = box.run(
        Job(
            code="import os; os.write(3, repr((os.sched_getscheduler(0), os.getpriority(os.PRIO_PROCESS, 0))).encode())"
        )
    )
    assert res.ok, res.reason
    assert res.result == repr((os.SCHED_OTHER, 0)).encode()
    for pid in box.server_pids:
        assert os.sched_getscheduler(pid) == os.SCHED_IDLE


def test_job_is_locked_down_before_its_code_runs(box: ZygoteSandbox) -> None:
    """Both seccomp filters (the one installed while waiting, the mount one at the start), no_new_privs, no caps."""
    code = (
        "import json, os\n"
        "fields = dict(l.split(':', 1) for l in open('/proc/self/status').read().splitlines() if ':' in l)\n"
        "keep = ('Seccomp', 'Seccomp_filters', 'NoNewPrivs', 'CapEff', 'CapPrm', 'CapBnd', 'CapAmb')\n"
        "os.write(3, json.dumps({k: fields[k].strip() for k in keep if k in fields}).encode())\n"
    )
    res = box.run(Job(code=code))
    assert res.ok, res.reason
    status = json.loads(res.result or b"{}")
    assert status["Seccomp"] == "2" and status["NoNewPrivs"] == "1"
    assert status.get("Seccomp_filters", "2") == "2"
    for caps in ("CapEff", "CapPrm", "CapBnd", "CapAmb"):
        assert int(status[caps], 16) == 0, (caps, status[caps])


def test_python_paths_under_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A checkout or virtualenv below /tmp (as in CI): each job gets a private /tmp with that path bound in again."""
    import godel.sandbox._zygote as zygote_module

    assert str(tmp_path).startswith("/tmp/")
    lib = tmp_path / "site"
    lib.mkdir()
    (lib / "tmp_helper.py").write_text("VALUE = 41\n")
    binds, sys_path = zygote_module.sandbox_paths()
    monkeypatch.setattr(zygote_module, "sandbox_paths", lambda: ([*binds, str(lib)], [*sys_path, str(lib)]))
    box = ZygoteSandbox(slots=1)
    code = (
        "import json, os, tmp_helper\n"
        "before = sorted(os.listdir('/tmp'))\n"
        "open('/tmp/scratch', 'w').write('x')\n"
        "st = os.statvfs('/tmp')\n"
        "try:\n"
        f"    open({str(lib / 'planted.py')!r}, 'w')\n"
        "    wrote = True\n"
        "except OSError:\n"
        "    wrote = False\n"
        "os.write(3, json.dumps([tmp_helper.VALUE + 1, st.f_blocks * st.f_frsize // 2**20, wrote,"
        " before]).encode())\n"
    )
    try:
        for disk in (64, 5, 5):
            res = box.run(Job(code=code, limits=Limits(disk_mb=disk)))
            assert res.ok, res.stderr
            value, size, wrote, listing = json.loads(res.result or b"[]")
            assert value == 42 and size == disk and wrote is False
            # Only the ways down to the bound paths: nothing left over from the job before.
            assert listing == sorted({p.split("/")[2] for p in [*binds, str(lib)] if p.startswith("/tmp/")})
        assert not (lib / "planted.py").exists()
    finally:
        box.close()


def _named(names: set[str], *, zombies: bool = True) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    head, _, tail = fh.read().rpartition(")")
            except OSError:
                continue
            if head.partition("(")[2] in names and (zombies or tail.split()[0] != "Z"):
                found.append(int(entry))
    return found


def test_the_namespace_init_ends_with_each_job_and_with_the_sandbox() -> None:
    """Each job's pid namespace has an init of its own (the job is PID 2); it must not outlive the job's namespace,
    whatever the job did (left a daemon, killed itself), nor the sandbox."""
    from godel.sandbox._linux import process_name
    from godel.sandbox.testing import process_tree

    box = ZygoteSandbox(slots=1)
    names = {process_name(uid) for uid in box.uids}

    def ours() -> list[int]:
        """This sandbox's live processes: its servers and what descends from them (a name alone could be an
        earlier test's process with the same uid)."""
        found = set()
        for server in box.server_pids:
            found.add(server)
            found |= {pid for pid, (_, name) in process_tree(server).items() if name in names}
        return sorted(p for p in found if p in _named(names, zombies=False))

    try:
        for code in (
            "pass",
            "import os, signal; os.kill(os.getpid(), signal.SIGKILL)",
            "import os, time\nif os.fork() == 0:\n    os.setsid(); time.sleep(60)\n",
        ):
            res = box.run(Job(code=code))
            assert res.termination in ("ok", "error"), res.reason
        assert_no_leftovers(box)
        # The server's live processes: itself, its ready children and their inits (two processes each). An ended
        # job's init may wait as a zombie for the server (under SCHED_IDLE, so late on a busy machine) to reap it.
        assert _eventually(lambda: len(ours()) <= 1 + 2 * 2, 30.0), ours()
        mine = ours()
    finally:
        box.close()
    assert _eventually(lambda: not set(mine) & set(_named(names, zombies=False)), 30.0), _named(names)


def _eventually(check: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True
