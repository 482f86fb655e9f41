"""The contract of :meth:`Sandbox.run(Job) -> SandboxResult <godel.sandbox.Sandbox.run>`: every backend passes it."""

from __future__ import annotations

import json
import os
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
