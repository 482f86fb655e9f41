"""A small task whose candidates can succeed, fail, time out, report what they see, or kill their Ray worker."""

from __future__ import annotations

from pathlib import Path

from godel.candidate import Program
from godel.config import SandboxConfig
from godel.task import Task, load_task
from tests.helpers import write_task

SECRET_NAME = "GODEL_TEST_FAKE_SECRET"
SECRET_VALUE = "sk-test-4f1d9c0e-not-a-real-key"
UNSAFE = SandboxConfig(backend="unsafe-subprocess", allow_unsafe=True)

EVALUATOR = """
import importlib.util

def evaluate(path):
    spec = importlib.util.spec_from_file_location("prog", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    value, seen = mod.run()
    return {"combined_score": float(value), "seen": str(seen)}
"""


def program(body: str) -> Program:
    """A candidate whose ``run()`` returns (score, text); ``body`` is the function's indented body."""
    return Program.single("initial_program.py", f"import os, sys, time\n\ndef run():\n{body}")


OK = program("    return 1.5, 'fine'\n")
FAILS = program("    raise ValueError('boom')\n")
HANGS = program("    time.sleep(30)\n    return 1.0, ''\n")
SNOOPS = program(
    # What the candidate can find: its own environment and its parent's (the Ray worker's) through /proc.
    "    mine = os.environ.get('" + SECRET_NAME + "', '')\n"
    "    try:\n"
    "        parent = open(f'/proc/{os.getppid()}/environ', 'rb').read().decode('utf-8', 'replace')\n"
    "    except OSError as exc:\n"
    "        parent = f'unreadable: {exc}'\n"
    "    return 2.0, 'MINE=' + mine + ' PARENT=' + parent\n"
)


def scored(i: int) -> Program:
    return program(f"    return {i}.0, 'n{i}'\n")


def kills_worker(marker: Path | None) -> Program:
    """Kills its parent (the Ray worker holding the sandbox) mid-evaluation; with a marker, only the first time."""
    if marker is None:
        return program("    os.kill(os.getppid(), 9)\n    time.sleep(5)\n    return 0.0, ''\n")
    return program(
        f"    m = {str(marker)!r}\n"
        "    if not os.path.exists(m):\n"
        "        open(m, 'w').close()\n"
        "        os.kill(os.getppid(), 9)\n"
        "        time.sleep(5)\n"
        "    return 3.0, 'survived'\n"
    )


def make_task(root: Path) -> Task:
    write_task(
        root,
        {
            "initial_program.py": OK.files["initial_program.py"],
            "evaluator.py": EVALUATOR,
            "godel.toml": "[evaluator]\ntimeout_seconds = 1\n",
        },
    )
    return load_task(root)
