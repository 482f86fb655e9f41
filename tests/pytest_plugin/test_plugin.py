"""The plugin in real pytest runs: a child process per run, loading it through the declared entry point."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

from tests.pytest_plugin.conftest import Run

pytestmark = pytest.mark.slow  # real pytest processes

RunSuite = Callable[..., Run]

FAILURES = """
import random
import pytest

def test_passes():
    pass

def test_random_value():
    # Fails with the seed's first value, the same one in every run.
    assert random.random() < 0.0, "sk-abcdefghijklmnopqrstuvwxyz1234 leaked"

@pytest.fixture
def broken_setup():
    raise RuntimeError("setup went wrong")

def test_setup_error(broken_setup):
    pass

@pytest.fixture
def broken_teardown():
    yield
    raise KeyError("teardown went wrong")

def test_teardown_error(broken_teardown):
    pass

@pytest.mark.xfail(reason="known")
def test_expected_failure():
    assert False

@pytest.mark.xfail(strict=True, reason="should fail")
def test_strict_xpass():
    pass

@pytest.mark.parametrize("n", [1, 2])
def test_param(n):
    assert n == 1
"""

BROKEN_IMPORT = "import no_such_module_for_godel_tests\n\ndef test_never():\n    pass\n"


def test_every_failure_becomes_one_event_with_every_field(run_suite: RunSuite) -> None:
    run = run_suite(
        {"test_f.py": FAILURES, "test_broken.py": BROKEN_IMPORT}, "--continue-on-collection-errors"
    )
    assert run.proc.returncode == 1, run.output
    assert "godel: seed 1337" in run.output  # the header says what the plugin does
    events = run.events()
    got = sorted((e["test_id"], e["phase"], e["error_class"]) for e in events)
    assert got == [
        ("test_broken.py", "collect", "ModuleNotFoundError"),
        ("test_f.py::test_param[2]", "call", "AssertionError"),
        ("test_f.py::test_random_value", "call", "AssertionError"),
        ("test_f.py::test_setup_error", "setup", "RuntimeError"),
        ("test_f.py::test_strict_xpass", "call", "XPASS(strict)"),
        ("test_f.py::test_teardown_error", "teardown", "KeyError"),
    ]
    for e in events:
        for key in ("ts", "suite", "test_id", "file", "error_class", "message", "stack", "repro_cmd", "seed", "env", "signature"):  # fmt: skip
            assert key in e, (key, e)
        assert datetime.fromisoformat(e["ts"].replace("Z", "+00:00")).tzinfo is not None
        assert e["ts"].endswith("Z") and e["suite"] == run.root.name and e["seed"] == 1337
        assert e["env"] == {"PYTHONHASHSEED": "random", "FREEZE_TIME": "0", "ALLOW_NET": "0", "GODEL_BLOCK_LOOPBACK": "0"}  # fmt: skip
        assert len(e["message"]) <= 512 and len(e["stack"]) <= 4000 and len(e["signature"]) == 16
        assert e["repro_cmd"].startswith("PYTEST_SEED=1337 PYTHONHASHSEED=0 pytest -q ")
    by_id = {e["test_id"]: e for e in events}
    random_fail = by_id["test_f.py::test_random_value"]
    assert "sk-abcdefghijklmnop" not in random_fail["message"] + random_fail["stack"]
    assert repr(random.Random(1337).random()) in random_fail["message"]
    assert by_id["test_broken.py"]["message"] == "No module named 'no_such_module_for_godel_tests'"
    assert by_id["test_f.py::test_teardown_error"]["file"] == "test_f.py"
    assert "godel: failures appended to" in run.output


def test_the_repro_command_fails_the_same_way(run_suite: RunSuite) -> None:
    run = run_suite({"test_f.py": FAILURES})
    [event] = [e for e in run.events() if e["test_id"] == "test_f.py::test_random_value"]
    # As a user would paste it, from the suite's folder, with this interpreter's pytest first on PATH.
    env = {**run.env, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{run.env.get('PATH', '')}"}
    again = subprocess.run(
        ["bash", "-c", event["repro_cmd"] + " -p no:cacheprovider"],
        cwd=run.root, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert again.returncode == 1, again.stdout + again.stderr
    assert "1 failed" in again.stdout
    last = json.loads(run.events_path.read_text().splitlines()[-1])
    assert last["signature"] == event["signature"]  # the same test, error and message: the same failure
    assert last["env"]["PYTHONHASHSEED"] == "0"


def test_no_godel_turns_it_off(run_suite: RunSuite) -> None:
    run = run_suite({"test_f.py": FAILURES}, "-p", "no:godel")
    assert run.proc.returncode == 1
    assert not run.events_path.exists()
    assert "godel:" not in run.output


def test_the_events_path_is_configurable(run_suite: RunSuite, tmp_path: Path) -> None:
    target = tmp_path / "elsewhere" / "ev.ndjson"
    run = run_suite({"test_f.py": FAILURES}, env={"GODEL_EVENTS": str(target), "GODEL_SUITE": "mine"})
    assert not run.events_path.exists()
    lines = target.read_text().splitlines()
    assert len(lines) == 5 and all(json.loads(line)["suite"] == "mine" for line in lines)
    run = run_suite({"test_f.py": FAILURES}, "--godel-events", "out/e.ndjson")
    assert len((run.root / "out" / "e.ndjson").read_text().splitlines()) == 5


SEEDED = """
import json, os, random
import numpy

def _dump(name):
    with open(os.environ["OUT"], "a") as f:
        f.write(json.dumps([name, random.random(), float(numpy.random.random())]) + "\\n")

def test_first():
    _dump("first")
    random.random(); numpy.random.random()  # this test's further draws do not reach the next one

def test_second():
    _dump("second")
"""


def test_each_test_starts_from_the_seed(run_suite: RunSuite, tmp_path: Path) -> None:
    out = tmp_path / "draws.jsonl"
    for _ in range(2):
        run_suite({"test_s.py": SEEDED}, env={"OUT": str(out)})
    run_suite({"test_s.py": SEEDED}, env={"OUT": str(out), "PYTEST_SEED": "7"})
    draws = [json.loads(line) for line in out.read_text().splitlines()]
    expected = [random.Random(1337).random(), float(np.random.RandomState(1337).random_sample())]
    assert [d[1:] for d in draws[:4]] == [expected] * 4
    assert draws[4][1] == random.Random(7).random() != expected[0]


CLOCK = """
import datetime, time
import pytest

def test_frozen():
    t = time.time()
    start = time.monotonic()
    time.sleep(0.05)
    assert time.time() == t  # the wall clock stands still
    assert time.monotonic() > start  # timeouts keep running
    print("FROZEN", t, datetime.datetime.now(datetime.timezone.utc).isoformat())

@pytest.mark.clock
def test_real():
    print("REAL", time.time())
"""


def test_freeze_time_and_the_clock_marker(run_suite: RunSuite) -> None:
    run = run_suite({"test_c.py": CLOCK}, "-s", env={"FREEZE_TIME": "1"})
    assert run.proc.returncode == 0, run.output
    assert "FROZEN 1704067200.0 2024-01-01T00:00:00+00:00" in run.output
    real = float(run.output.split("REAL ")[1].split()[0])
    assert real > 1.7e9 + 3e7  # not 2024-01-01: the marked test saw the machine's clock
    run = run_suite({"test_c.py": CLOCK}, "-s", env={"FREEZE_TIME": "2030-01-02T03:04:05Z"})
    assert "2030-01-02T03:04:05+00:00" in run.output
    bad = run_suite({"test_c.py": CLOCK}, env={"FREEZE_TIME": "sometimes"})
    assert bad.proc.returncode == 4 and "FREEZE_TIME='sometimes'" in bad.output


NETWORK = """
import socket, threading
import pytest

def _server():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    return server

def _talk(port):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as c:
        c.sendall(b"ping")

def test_loopback():
    server = _server()
    _talk(server.getsockname()[1])
    conn, _ = server.accept()
    assert conn.recv(4) == b"ping"

@pytest.mark.external
def test_marked_external():
    test_loopback()
"""


def test_loopback_is_open_by_default_and_blocked_by_the_setting(run_suite: RunSuite) -> None:
    run = run_suite({"test_n.py": NETWORK})
    assert run.proc.returncode == 0, run.output
    for blocked in (run_suite({"test_n.py": NETWORK}, "--godel-block-loopback"),
                    run_suite({"test_n.py": NETWORK}, env={"GODEL_BLOCK_LOOPBACK": "1"})):  # fmt: skip
        assert blocked.proc.returncode == 1, blocked.output
        [event] = blocked.events()  # the marked test connected; the other was refused
        assert event["test_id"] == "test_n.py::test_loopback"
        assert event["error_class"] == "godel.errors.NetworkBlocked"
        assert "refused a connection to 127.0.0.1:" in event["message"]
        assert "GODEL_BLOCK_LOOPBACK=1" in event["message"] and "@pytest.mark.external" in event["message"]
        assert event["env"]["GODEL_BLOCK_LOOPBACK"] == "1"
        assert "GODEL_BLOCK_LOOPBACK=1 pytest -q" in event["repro_cmd"]


XDIST = """
import pytest

@pytest.mark.parametrize("i", range(60))
def test_many(i):
    raise ValueError(f"failure {i} " + "y" * 3000)
"""


def test_xdist_workers_write_whole_lines_and_collection_errors_once(run_suite: RunSuite) -> None:
    run = run_suite(
        {"test_x.py": XDIST, "test_broken.py": BROKEN_IMPORT}, "-n", "2", "--continue-on-collection-errors"
    )
    assert run.proc.returncode == 1, run.output
    events = run.events()  # every line parses
    assert sorted(e["test_id"] for e in events if e["phase"] == "call") == sorted(
        f"test_x.py::test_many[{i}]" for i in range(60)
    )
    assert [e["test_id"] for e in events if e["phase"] == "collect"] == ["test_broken.py"]


def test_a_bad_setting_stops_the_run_with_a_usage_error(run_suite: RunSuite) -> None:
    run = run_suite({"test_n.py": NETWORK}, env={"PYTEST_SEED": "many"})
    assert run.proc.returncode == 4
    assert "PYTEST_SEED='many' is not a seed" in run.output and "Traceback" not in run.output


SUBTESTS = """
from unittest import TestCase

class T(TestCase):
    def test_each(self):
        for i in range(3):
            with self.subTest(i=i):
                self.assertEqual(i, 0)
"""


def test_a_failed_subtest_is_one_event_with_its_description(run_suite: RunSuite) -> None:
    for args in ((), ("-n", "2")):
        run = run_suite({"test_u.py": SUBTESTS}, *args)
        assert run.proc.returncode == 1, run.output
        events = run.events()
        assert [(e["test_id"], e.get("subtest"), e["message"]) for e in events] == [
            ("test_u.py::T::test_each", "(i=1)", "1 != 0"),
            ("test_u.py::T::test_each", "(i=2)", "2 != 0"),
        ]
