"""The contract of :meth:`Sandbox.run(Job) -> SandboxResult <godel.sandbox.Sandbox.run>`: every backend passes it."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import tempfile
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest

from godel.sandbox._base import Job, Limits, Sandbox, SandboxResult

__all__ = ["SandboxConformance"]

_MAIN = """
import json, os, sys
import helper
doc = {"name": __name__, "argv": sys.argv[1:], "data": open("data/in.txt").read(), "helper": helper.VALUE,
       "blob": open("blob.bin", "rb").read().hex()}
print("hello out")
print("hello err", file=sys.stderr)
os.write(3, json.dumps(doc).encode())
"""
# Queries any process may make of itself; native runtimes make them on every lock (abseil's mutex asks
# pthread_getschedparam, and JAX/XLA log a line each time it fails) or to size their thread pools.
_QUERIES = """
import ctypes, json, os, resource, threading
libc = ctypes.CDLL(None, use_errno=True)
libc.pthread_self.restype = ctypes.c_ulong
def pthread_query():
    policy, param = ctypes.c_int(-1), ctypes.c_int(-1)  # struct sched_param is one int
    err = libc.pthread_getschedparam(ctypes.c_ulong(libc.pthread_self()), ctypes.byref(policy), ctypes.byref(param))
    return [err, policy.value]
out = {"main": pthread_query()}
t = threading.Thread(target=lambda: out.__setitem__("thread", pthread_query()))
t.start(); t.join()
pid = os.getpid()
out["policy"] = [os.sched_getscheduler(0), os.sched_getscheduler(pid)]
out["priority"] = [os.sched_getparam(0).sched_priority, os.sched_getparam(pid).sched_priority]
out["affinity"] = sorted(os.sched_getaffinity(0))
out["affinity_pid"] = sorted(os.sched_getaffinity(pid))
out["rr_interval"] = os.sched_rr_get_interval(0) >= 0
out["nice"] = os.getpriority(os.PRIO_PROCESS, 0)
out["rusage"] = [resource.getrusage(w).ru_utime >= 0 for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN,
                                                                resource.RUSAGE_THREAD)]
out["cpus"] = os.cpu_count()
os.write(3, json.dumps(out).encode())
"""
# A small JAX program in the style of an AlphaEvolve/OpenEvolve evaluator: jit, grad, a reduction, on the CPU.
_JAX = """
import json, os
import jax, jax.numpy as jnp
x = jnp.arange(1000.0)
total = jax.jit(lambda v: jnp.sum(jnp.sin(v) ** 2 + jnp.cos(v) ** 2))(x)
grad = jax.grad(lambda v: jnp.sum(v ** 2))(x)
m = jnp.ones((64, 64)) @ jnp.ones((64, 64))
doc = {"total": float(total), "grad3": float(grad[3]), "m": float(m[0, 0]), "platforms": [d.platform for d in jax.devices()]}
os.write(3, json.dumps(doc).encode())
"""
_HAS_JAX = importlib.util.find_spec("jax") is not None
_PAYLOAD = bytes(range(256)) * 1000  # every byte value, and more than a pipe holds
_WRITE_LOOP = "import os\nview = memoryview(PAYLOAD)\nwhile view:\n    view = view[os.write(3, view):]\n"
_WRITE_FILE = "with open(3, 'wb') as fh:\n    fh.write(PAYLOAD)\n"


class SandboxConformance:
    """Behaviour shared by every sandbox backend. Subclasses define :meth:`make_sandbox`, which builds a fresh
    sandbox each time it is called; the tests share one per class and build more where they need them.

    A backend that contains its jobs (``trusted`` is False) subclasses
    :class:`~godel.sandbox.testing.ContainedSandboxConformance` instead, which adds the isolation and adversarial
    cases; ``test_trusted_is_truthful`` holds each backend to the class it chose.
    """

    containment_cases: ClassVar[bool] = False  # True in ContainedSandboxConformance
    # False for a backend whose guest has no signals, processes or native extensions (wasm: WASI preview 1), so
    # the fidelity checks that need them do not apply.
    native: ClassVar[bool] = True

    @classmethod
    def make_sandbox(cls) -> Sandbox:
        """A fresh sandbox with at least one slot; the suite closes every one it makes. Subclasses define it."""
        raise NotImplementedError(f"{cls.__name__} must define make_sandbox() -> Sandbox")

    @pytest.fixture(scope="class")
    @classmethod
    def box(cls) -> Iterator[Sandbox]:
        sandbox = cls.make_sandbox()
        try:
            yield sandbox
        finally:
            sandbox.close()

    # -- the interface ------------------------------------------------------------------------------------------

    def test_declares_the_protocol(self, box: Sandbox) -> None:
        assert isinstance(box, Sandbox)
        assert isinstance(box.name, str) and box.name
        assert isinstance(box.trusted, bool)
        assert box.isolation["contained"] is (not box.trusted)
        assert all(isinstance(pid, int) and pid > 0 for pid in box.server_pids)

    def test_trusted_is_truthful(self, box: Sandbox) -> None:
        """``trusted`` says whether the backend contains nothing: a job of a trusted backend reads any host file,
        a job of a containing one cannot, and a containing backend must pass the containment cases too."""
        where = Path(tempfile.mkdtemp(prefix="godel-conformance-"))
        try:
            where.chmod(0o755)  # readable by any uid: only the sandbox can keep the job from it
            token = uuid.uuid4().hex
            (where / "host.txt").write_text(token)
            (where / "host.txt").chmod(0o644)
            code = (
                "import os\ntry:\n    data = open(PATH).read().encode()\nexcept Exception as exc:\n"
                "    data = repr(exc).encode()\nos.write(3, data)\n"
            ).replace("PATH", repr(str(where / "host.txt")))
            res = box.run(Job(code=code))
        finally:
            for entry in where.iterdir():
                entry.unlink()
            where.rmdir()
        assert res.ok, res.reason
        if box.trusted:
            assert res.result == token.encode(), (
                "a trusted backend claims no containment: its job reads host files"
            )
        else:
            assert res.result is not None and token.encode() not in res.result, "a containing backend leaked"
            assert self.containment_cases, (
                f"{box.name} contains its jobs (trusted is False): test it with ContainedSandboxConformance"
            )

    def test_result_names_backend_and_isolation(self, box: Sandbox) -> None:
        res = box.run(Job(code="pass"))
        assert res.backend == box.name
        assert dict(res.isolation) == dict(box.isolation)

    def test_close_is_idempotent(self) -> None:
        sandbox = self.make_sandbox()
        try:
            assert sandbox.run(Job(code="pass")).ok
        finally:
            sandbox.close()
        sandbox.close()

    # -- a job's inputs and outputs ------------------------------------------------------------------------------

    def test_runs_code_as_main_with_files_and_argv(self, box: Sandbox) -> None:
        files = {
            "data/in.txt": "payload ü".encode(),
            "helper.py": b"VALUE = 7\n",
            "blob.bin": bytes(range(256)),
        }
        res = box.run(Job(code=_MAIN, files=files, argv=("a", "b c", "ü")))
        assert res.termination == "ok", res.reason
        assert res.exit_code == 0
        doc = json.loads(res.result or b"null")
        assert doc == {
            "name": "__main__",
            "argv": ["a", "b c", "ü"],
            "data": "payload ü",
            "helper": 7,
            "blob": bytes(range(256)).hex(),
        }
        assert res.stdout == "hello out\n" and res.stderr == "hello err\n"

    @pytest.mark.parametrize("write", [_WRITE_LOOP, _WRITE_FILE], ids=["os.write", "open(3)"])
    def test_result_channel_carries_bytes_verbatim(self, box: Sandbox, write: str) -> None:
        res = box.run(Job(code=f"PAYLOAD = bytes(range(256)) * 1000\n{write}"))
        assert res.ok, res.reason
        assert res.result == _PAYLOAD

    def test_no_result_is_none(self, box: Sandbox) -> None:
        res = box.run(Job(code="import sys\nsys.exit(0)"))
        assert res.termination == "ok" and res.exit_code == 0
        assert res.result is None and res.reason == ""
        assert res.stdout == "" and res.stderr == ""

    @pytest.mark.parametrize(
        "path", ["../escape.txt", f"/tmp/godel-escape-{uuid.uuid4().hex}.txt"], ids=["relative", "absolute"]
    )
    def test_job_files_cannot_escape_the_scratch_directory(self, box: Sandbox, path: str) -> None:
        res = box.run(Job(code="pass", files={path: b"x"}))
        assert res.termination == "error"
        assert path in res.reason, res.reason
        if os.path.isabs(path):
            assert not os.path.exists(path)

    def test_scratch_is_fresh_per_job(self, box: Sandbox) -> None:
        assert box.run(Job(code="open('left-behind', 'w').write('x')")).ok
        res = box.run(Job(code="import json, os\nos.write(3, json.dumps(os.listdir('.')).encode())"))
        assert res.ok, res.reason
        assert "left-behind" not in json.loads(res.result or b"null")

    def test_environment_holds_no_host_secret(self, box: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
        secret = f"s3cr3t-{uuid.uuid4().hex}"
        monkeypatch.setenv("GODEL_TEST_SECRET", secret)
        res = box.run(Job(code="import json, os\nos.write(3, json.dumps(dict(os.environ)).encode())"))
        assert res.ok, res.reason
        env = json.loads(res.result or b"{}")
        assert "GODEL_TEST_SECRET" not in env and not any(secret in v for v in env.values())

    # -- how a job ends ------------------------------------------------------------------------------------------

    @pytest.mark.parametrize(
        ("code", "exit_code", "needle"),
        [
            ("import sys\nsys.exit(4)", 4, "exit code 4"),
            ("raise ValueError('boom')", 1, "ValueError: boom"),
            ("import sys\nsys.exit('bye')", 1, "bye"),
            ("def f(:\n", 1, "SyntaxError"),
        ],
        ids=["exit-4", "exception", "exit-message", "syntax-error"],
    )
    def test_failure_has_exit_code_and_reason(
        self, box: Sandbox, code: str, exit_code: int, needle: str
    ) -> None:
        res = box.run(Job(code=code))
        assert res.termination == "error"
        assert res.exit_code == exit_code
        assert needle in res.reason, res.reason

    def test_timeout(self, box: Sandbox) -> None:
        res = box.run(Job(code="import time\ntime.sleep(30)", limits=Limits(wall_seconds=0.5)))
        assert res.termination == "timeout"
        assert "wall-clock" in res.reason
        assert 0.5 <= res.wall_seconds < 10.0
        again = box.run(Job(code="import os; os.write(3, b'alive')"))
        assert again.ok and again.result == b"alive", again

    @pytest.mark.slow
    def test_cpu_limit(self, box: Sandbox) -> None:
        res = box.run(Job(code="while True:\n    pass", limits=Limits(wall_seconds=20.0, cpu_seconds=1.0)))
        assert res.termination == "cpu_limit", res.reason
        assert "CPU limit" in res.reason
        assert 0.5 <= res.cpu_seconds <= 3.0

    def test_memory_limit(self, box: Sandbox) -> None:
        code = "blocks = []\nwhile True:\n    blocks.append(bytearray(16 * 1024 * 1024))"
        res = box.run(Job(code=code, limits=Limits(wall_seconds=20.0, memory_mb=128)))
        assert res.termination == "memory_limit", res.reason
        assert "memory limit" in res.reason
        assert 0 < res.peak_memory_mb <= 128 + 1

    @pytest.mark.parametrize("stream", ["stdout", "stderr"])
    def test_output_limit(self, box: Sandbox, stream: str) -> None:
        code = f"import sys\nwhile True:\n    sys.{stream}.write('x' * 65536)"
        res = box.run(Job(code=code, limits=Limits(wall_seconds=20.0, output_bytes=200_000)))
        assert res.termination == "output_limit", res.reason
        assert "output" in res.reason
        assert len(res.stdout) + len(res.stderr) <= 200_000

    def test_result_limit(self, box: Sandbox) -> None:
        code = "import os\nwhile True:\n    os.write(3, b'y' * 65536)"
        res = box.run(Job(code=code, limits=Limits(wall_seconds=20.0, result_bytes=100_000)))
        assert res.termination == "output_limit", res.reason
        assert "result" in res.reason
        assert res.result is None or len(res.result) <= 100_000

    def test_figures(self, box: Sandbox) -> None:
        res = box.run(Job(code="x = sum(i * i for i in range(300_000))\nimport os\nos.write(3, b'done')"))
        assert res.ok and res.result == b"done", res.reason
        assert res.wall_seconds > 0 and res.cpu_seconds > 0 and res.peak_memory_mb > 0
        assert res.cpu_seconds <= res.wall_seconds * (os.cpu_count() or 1) + 0.05
        assert res.start_seconds is None or 0 <= res.start_seconds <= res.wall_seconds

    # -- fidelity: a job behaves as the same program would outside the sandbox ---------------------------------

    def _needs_native(self) -> None:
        if not self.native:
            pytest.skip(
                "this backend's guest has no signals, processes or native extensions (WASI preview 1)"
            )

    @pytest.mark.parametrize(
        ("code", "sig"),
        [
            ("os.kill(os.getpid(), signal.SIGKILL)", signal.SIGKILL),
            ("os.kill(os.getpid(), signal.SIGTERM)", signal.SIGTERM),
            ("signal.raise_signal(signal.SIGTERM)", signal.SIGTERM),
            ("signal.raise_signal(signal.SIGINT)", signal.SIGINT),  # with no Python handler, as outside
            ("os.abort()", signal.SIGABRT),
            ("import ctypes\nctypes.string_at(0)", signal.SIGSEGV),
        ],
        ids=[
            "kill-SIGKILL",
            "kill-SIGTERM",
            "raise_signal-SIGTERM",
            "raise_signal-SIGINT",
            "abort",
            "segfault",
        ],
    )
    def test_a_job_dies_of_its_own_signal(self, box: Sandbox, code: str, sig: signal.Signals) -> None:
        """Outside, each of these ends the program by that signal; a sandbox that hid it (the zygote's job was PID
        1 of its namespace, which ignores its own signals) reported a self-killed candidate as a success."""
        self._needs_native()
        prelude = "import os, signal, time\nsignal.signal(signal.SIGINT, signal.SIG_DFL)\n"
        res = box.run(Job(code=prelude + code + "\ntime.sleep(0.5)\nos.write(3, b'survived')\n"))
        assert res.result is None, "the job went on after its own fatal signal"
        assert res.termination == "error", res.reason
        assert res.exit_code == -sig, (res.exit_code, res.reason)
        assert f"signal {sig.name}" in res.reason, res.reason
        again = box.run(Job(code="import os; os.write(3, b'alive')"))
        assert again.ok and again.result == b"alive", again

    def test_a_child_dies_of_its_signal_and_the_job_sees_it(self, box: Sandbox) -> None:
        self._needs_native()
        code = (
            "import os, signal, subprocess, sys\n"
            "p = subprocess.run([sys.executable, '-c', 'import os, signal; os.kill(os.getpid(), signal.SIGTERM)'])\n"
            "os.write(3, str(p.returncode).encode())\n"
        )
        res = box.run(Job(code=code, limits=Limits(wall_seconds=30.0)))
        assert res.ok and res.result == str(-signal.SIGTERM).encode(), (res.reason, res.result, res.stderr)

    def test_harmless_queries_succeed(self, box: Sandbox) -> None:
        """Scheduling policy and parameters (of the process and of a thread), CPU affinity and resource usage:
        what libc, abseil, XLA, PyTorch and OpenMP ask before they lock or size a thread pool."""
        self._needs_native()
        res = box.run(Job(code=_QUERIES))
        assert res.ok, (res.reason, res.stderr[-2000:])
        assert res.result is not None
        out = json.loads(res.result)
        other = os.SCHED_OTHER
        assert out["main"] == [0, other] and out["thread"] == [0, other], out
        assert out["policy"] == [other, other] and out["priority"] == [0, 0], out
        assert out["affinity"] and out["affinity"] == out["affinity_pid"], out
        assert set(out["affinity"]) <= set(os.sched_getaffinity(0)), out
        assert out["rr_interval"] and all(out["rusage"]), out

    @pytest.mark.slow
    @pytest.mark.skipif(
        not _HAS_JAX,
        reason="jax is not importable here: it comes with the dev extra (pip install -e '.[dev]'), which the test "
        "command installs",
    )
    def test_jax_runs_as_outside(self, box: Sandbox) -> None:
        """An AlphaEvolve-style JAX evaluator, with the default limits: abseil's mutex logged a line on every lock
        when the scheduler query failed, which flooded past the output cap."""
        self._needs_native()
        # XLA starts a few thread pools of one thread per CPU (17 threads on 2 CPUs), and threads count as
        # processes: on a machine with many CPUs the default of 32 would be the limit that ends it.
        threads = max(Limits().max_processes, 16 + 4 * (os.cpu_count() or 1))
        res = box.run(Job(code=_JAX, limits=Limits(wall_seconds=240.0, max_processes=threads)))
        assert res.ok, (res.reason, res.stderr[-2000:])
        assert res.result is not None
        out = json.loads(res.result)
        assert out == {
            "total": pytest.approx(1000.0, rel=1e-4),
            "grad3": 6.0,
            "m": 64.0,
            "platforms": ["cpu"],
        }
        assert "pthread_getschedparam" not in res.stderr
        assert len(res.stdout) + len(res.stderr) < 4000, res.stderr[-2000:]

    # -- several jobs --------------------------------------------------------------------------------------------

    def test_parallel_jobs_from_threads(self, box: Sandbox) -> None:
        results: dict[int, SandboxResult] = {}

        def work(i: int) -> None:
            results[i] = box.run(Job(code=f"import os, time\ntime.sleep(0.05)\nos.write(3, b'{i}')"))

        threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert {i: (r.termination, r.result) for i, r in results.items()} == {
            i: ("ok", str(i).encode()) for i in range(8)
        }
